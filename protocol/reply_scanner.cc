#include "protocol/reply_scanner.h"

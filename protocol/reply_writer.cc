#include "protocol/reply_writer.h"

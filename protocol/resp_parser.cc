#include "protocol/resp_parser.h"

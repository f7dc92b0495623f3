#include "proxy/command.h"

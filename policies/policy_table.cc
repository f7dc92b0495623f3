#include "policies/policy_table.h"

#include "support/raw_client.h"

from tests.crm_fixtures import *  # noqa: F403
from tests.mapping_fixtures import *  # noqa: F403

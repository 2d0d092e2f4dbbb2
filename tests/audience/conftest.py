from tests.mapping_fixtures import *  # noqa: F403

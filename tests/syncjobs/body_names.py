"""The tests' own job kinds and their bodies (``tests.syncjobs.bodies``), by dotted path.

Plain Python: registered in ``syncjobs.job_bodies.BODIES`` by a fixture in the test process
and by ``tests.with_test_bodies`` in worker processes before Django starts.
"""

TEST_BODIES = {
    "test_succeed": "tests.syncjobs.bodies.succeed",
    "test_fail_readably": "tests.syncjobs.bodies.fail_readably",
    "test_crash": "tests.syncjobs.bodies.crash",
    "test_sleep_first": "tests.syncjobs.bodies.sleep_on_first_attempt",
    "test_sleep_briefly": "tests.syncjobs.bodies.sleep_briefly",
    "test_wait_for_cancel": "tests.syncjobs.bodies.wait_for_cancel",
}

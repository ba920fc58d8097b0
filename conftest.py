"""Loaded by pytest before anything is imported: each test session gets its own Kafka namespace.

Topic and consumer-group names carry LEDGERLINE_TOPIC_PREFIX (see ledgerline_contracts.topics), so a test
session never shares partitions or groups with a stack started by `make up` or by another session.
"""

import os

os.environ.setdefault("LEDGERLINE_TOPIC_PREFIX", f"t{os.environ.get('LEDGERLINE_TEST_PORT_BASE', '18100')}.")

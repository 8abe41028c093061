"""The test suite's own setup: TensorFlow's thread pools shared out among pytest-xdist workers."""

from tests.conftest import worker_threads


def test_workers_share_the_cores_and_one_process_keeps_the_default():
  assert worker_threads(2, 2) == 1
  assert worker_threads(16, 2) == 8
  assert worker_threads(2, 4) == 1  # never 0 threads
  assert worker_threads(2, 1) is None and worker_threads(None, 2) is None

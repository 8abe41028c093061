"""Local runs' Beam arguments keep the DirectRunner off the PrismRunner and change nothing else."""

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability import prism_runner
from apache_beam.testing.util import assert_that
from apache_beam.testing.util import equal_to

from pipelines.infra import InfraConfig
from pipelines.infra import no_prism_flag


@pytest.fixture
def prism_starts(monkeypatch):
  """Every pipeline the DirectRunner tries on the PrismRunner (none runs there: the attempt
  fails, and Beam falls back to the FnApiRunner, as it does when the download fails)."""
  starts = []

  class Refusing:
    def run_pipeline(self, pipeline, options):
      starts.append(pipeline)
      raise RuntimeError("no PrismRunner in tests")

  monkeypatch.setattr(prism_runner, "PrismRunner", Refusing)
  return starts


def _run(args):
  with beam.Pipeline(options=PipelineOptions(args)) as p:
    total = p | beam.Create([1, 2, 3, 4]) | beam.Map(lambda x: x * 10) | beam.CombineGlobally(sum)
    assert_that(total, equal_to([100]))


def test_local_runs_never_start_the_prism_runner(prism_starts):
  _run(InfraConfig().local_beam_args())
  assert not prism_starts
  _run(["--runner=DirectRunner"])  # Beam's default: tries Prism first (this test can fail)
  assert len(prism_starts) == 1


def test_the_pin_is_the_installed_beam_so_no_older_behaviour_is_chosen():
  options = PipelineOptions([no_prism_flag()])
  pinned = options.get_all_options()["update_compatibility_version"]
  assert pinned == beam.__version__
  # Versions at which Beam 2.72 changed transforms or coders, and the pin itself.
  for breaking in ("2.65.0", "2.68.0", "2.69.0", "2.72.0", beam.__version__):
    assert not options.is_compat_version_prior_to(breaking), breaking
  assert options.is_compat_version_prior_to("999.0.0")  # the check works at all

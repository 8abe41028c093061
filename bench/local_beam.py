"""Beam's DirectRunner with and without the PrismRunner attempt, side by side.

  python bench/local_beam.py [--branches 50] [--runs 6]

Runs one pipeline (a `Create` fanned out into `--branches` Map + CombineGlobally branches, then
flattened: ~100 ParDos, like a small TFDV or tf.Transform step) `--runs` times on Beam's
DirectRunner with local runs' arguments (`InfraConfig.local_beam_args`, which pin the
update-compatibility version so the DirectRunner skips Prism) and without the pin (Beam's
default: Prism first, then the FnApiRunner once the download fails offline), alternating, and
prints every run's seconds and the medians. Beam's caches that local runs install
(`beam_signatures`) are on for both.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--branches", type=int, default=50)
  parser.add_argument("--runs", type=int, default=6)
  args = parser.parse_args()
  import apache_beam as beam  # pylint: disable=g-import-not-at-top
  from apache_beam.options.pipeline_options import PipelineOptions  # pylint: disable=g-import-not-at-top
  from pipelines import beam_signatures  # pylint: disable=g-import-not-at-top
  from pipelines.infra import InfraConfig  # pylint: disable=g-import-not-at-top
  from pipelines.infra import no_prism_flag  # pylint: disable=g-import-not-at-top
  beam_signatures.cache_function_signatures()
  beam_signatures.cache_option_views()
  local = InfraConfig().local_beam_args()
  setups = {"local runs' args (no Prism)": local,
            "without the pin (Prism attempt)": [a for a in local if a != no_prism_flag()]}
  seconds: dict[str, list[float]] = {name: [] for name in setups}
  for i in range(args.runs):
    order = list(setups) if i % 2 == 0 else list(reversed(setups))
    for name in order:
      start = time.monotonic()
      with beam.Pipeline(options=PipelineOptions(setups[name])) as p:
        numbers = p | beam.Create(list(range(100)))
        branches = [numbers | f"map{k}" >> beam.Map(lambda x: x + 1)
                    | f"sum{k}" >> beam.CombineGlobally(sum) for k in range(args.branches)]
        _ = branches | beam.Flatten()
      seconds[name].append(time.monotonic() - start)
  for name, values in seconds.items():
    print(f"{name:34s} median {statistics.median(values):6.2f} s   runs: "
          + " ".join(f"{v:.2f}" for v in values))
  return 0


if __name__ == "__main__":
  sys.exit(main())

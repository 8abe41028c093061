"""The toy task's report section: served brightness of a few eval images."""

from components.run_report import report


def brightness_samples(inputs: report.SectionInputs) -> report.Section | None:
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  examples = inputs.eval_examples[:5]
  if not examples:
    return None
  serve = tf.saved_model.load(inputs.serving_model_dir).signatures["serving_default"]
  out = serve(tf.constant([e["image"] for e in examples]))["brightness"].numpy()
  return report.Section("Served brightness", header=["source", "brightness"],
                        rows=[(e["source"], float(b)) for e, b in zip(examples, out)])

"""The lowest layer: TFX-free code that components and task pipelines both use (artifact I/O,
metrics, samplers, the task contract types, the evaluation outcome format, code fingerprints).
Nothing here imports `components.<component>` or `pipelines`."""

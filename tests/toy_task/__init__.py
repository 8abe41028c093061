"""A toy task registered only by the tests: it proves that a new task needs no edit outside its
own folder. It regresses an image's brightness (mean pixel value), a task with no classes and no
embeddings: its own serving outputs, evaluator (an upper bound on the error), edge quality
(lower is better) and report section."""

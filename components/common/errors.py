"""Errors the `cvpipe` command reports as one `cvpipe: error:` line. Defined here, without heavy
imports, so the command can catch them before TensorFlow or Beam is loaded."""


class IngestError(ValueError):
  """The data source cannot be ingested; the message names the file and the reason."""


class QueryError(ValueError):
  """A query image or the index directory is unusable; the message names the file."""

"""Beam pipeline construction without re-reading the same Python signatures or re-parsing the
same flags (`cache_option_views`, below).

Apache Beam 2.72 validates every DoFn for state and timer parameters (`userstate.get_dofn_specs`)
several times per ParDo: when the transform is built, when the pipeline is translated to its
runner API form, and again in every bundle processor. Each validation runs `inspect.signature`
on every method of the DoFn (~25, mostly `DoFn`'s own), through
`apache_beam.transforms.core.get_function_args_defaults`. Measured with py-spy on the toy DAG
(30 images): ~5,100 validations and 166k signatures, 12 % of a run's samples; Transform's and
StatisticsGen's pipelines (hundreds of ParDos each, from TFDV and tf.Transform) pay most of it.

`cache_function_signatures` memoizes that function for plain functions and methods bound to
plain functions, keyed by the function object (weakly, so nothing is kept alive): a function's
argument names and defaults do not change after it is defined. Anything else (callable objects,
partials, builtins) goes to Beam's own code uncached. The results are Beam's own, copied per
call. Local runs turn it on (`runners.run_local`): measured side by side on the toy DAG in a
fresh process, Transform 12.0-13.6 s -> 7.9-10.1 s.
"""

from __future__ import annotations

import types
import weakref


def _install(owner, name: str, cached_version) -> None:
  """Replaces `owner.<name>` with `cached_version(uncached)`, once: the replacement is marked
  (`cvpipe_cached`), keeps Beam's own as `.uncached` and its docstring."""
  uncached = getattr(owner, name)
  if getattr(uncached, "cvpipe_cached", False):
    return
  cached = cached_version(uncached)
  cached.cvpipe_cached = True
  cached.uncached = uncached
  cached.__doc__ = uncached.__doc__
  setattr(owner, name, cached)


def cache_function_signatures() -> None:
  """Memoizes Beam's `get_function_args_defaults` per function (idempotent)."""
  from apache_beam.transforms import core  # pylint: disable=g-import-not-at-top
  _install(core, "get_function_args_defaults", _cached_signatures)


def _cached_signatures(uncached):
  plain: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
  bound: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

  def get_function_args_defaults(f):
    if isinstance(f, types.FunctionType):
      table, key = plain, f
    elif isinstance(f, types.MethodType) and isinstance(f.__func__, types.FunctionType):
      table, key = bound, f.__func__  # the bound argument is dropped whatever it is bound to
    else:
      return uncached(f)
    found = table.get(key)
    if found is None:
      found = table[key] = uncached(f)
    args, defaults = found
    return list(args), list(defaults)

  return get_function_args_defaults


def cache_option_views() -> None:
  """Memoizes Beam's `PipelineOptions.view_as` per options object and view class (idempotent).

  Beam builds an argparse parser of the view's options and parses the pipeline's flags again at
  every `view_as`, and `Pipeline.apply` asks for a `TypeOptions` view twice per transform (the
  type checks): ~3 s of a small classification DAG's 65 s under py-spy, most in the Evaluator's
  and Transform's pipelines. A view holds no state of its own: its option values live in the
  options object's `_all_options` dict, which every view of that object shares (a value set
  through one view is read through every other), so the view made the first time stands for
  every later one. Cached per options object, weakly (a pipeline's options go when it goes)."""
  from apache_beam.options import pipeline_options  # pylint: disable=g-import-not-at-top
  _install(pipeline_options.PipelineOptions, "view_as", _cached_views)


def _cached_views(uncached):
  views: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

  def view_as(self, cls):
    by_class = views.setdefault(self, {})
    view = by_class.get(cls)
    # pylint: disable-next=protected-access
    if view is None or view._all_options is not self._all_options:  # the values were replaced
      view = by_class[cls] = uncached(self, cls)
    return view

  return view_as

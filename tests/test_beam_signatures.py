"""Beam's signature reads and option views, memoized (`pipelines.beam_signatures`): the same answers
as Beam's own, copies per call, nothing kept alive, and stateful DoFns still work."""

import functools
import gc
import weakref

import apache_beam as beam
from apache_beam.coders import VarIntCoder
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms import core
from apache_beam.transforms import userstate

from pipelines import beam_signatures


class _Counter(beam.DoFn):
  COUNT = userstate.ReadModifyWriteStateSpec("count", VarIntCoder())

  def process(self, element, count=beam.DoFn.StateParam(COUNT), now=beam.DoFn.TimestampParam):
    seen = (count.read() or 0) + 1
    count.write(seen)
    yield element[0], seen


def _scaled(x, factor=3, *rest, key="k"):
  return x * factor


class _Callable:
  def __call__(self, a, b=2):
    return a + b


def test_answers_equal_beams_own_for_every_kind_of_callable():
  callables = [_scaled, _Counter().process, _Counter.process, lambda a, b=1: a, len,
               functools.partial(_scaled, factor=2), _Callable(), _Callable().__call__]
  beam_signatures.cache_function_signatures()
  before = [core.get_function_args_defaults.uncached(f) for f in callables]  # Beam's own
  for _ in range(2):  # the first call fills the cache, the second reads it
    assert [core.get_function_args_defaults(f) for f in callables] == before
  assert before[0] == (["x", "factor"], [3])
  args, defaults = before[1]
  assert args == ["element", "count", "now"] and len(defaults) == 2


def test_callers_get_copies_and_applying_twice_keeps_one_cache():
  beam_signatures.cache_function_signatures()
  cached = core.get_function_args_defaults
  beam_signatures.cache_function_signatures()
  assert core.get_function_args_defaults is cached
  args, defaults = core.get_function_args_defaults(_scaled)
  args.append("changed")
  defaults.clear()
  assert core.get_function_args_defaults(_scaled) == (["x", "factor"], [3])


def test_the_cache_keeps_no_function_alive():
  beam_signatures.cache_function_signatures()

  def make():
    def local(a, b=1):
      return a + b
    return local
  fn = make()
  assert core.get_function_args_defaults(fn) == (["a", "b"], [1])
  ref = weakref.ref(fn)
  del fn
  gc.collect()
  assert ref() is None


def test_a_stateful_dofn_is_still_found_and_runs():
  beam_signatures.cache_function_signatures()
  states, timers = userstate.get_dofn_specs(_Counter())
  assert [s.name for s in states] == ["count"] and not timers
  assert userstate.is_stateful_dofn(_Counter())
  assert not userstate.is_stateful_dofn(core.CallableWrapperDoFn(lambda x: x))
  with beam.Pipeline() as p:
    out = (p | beam.Create([("a", 1), ("a", 2), ("b", 3)]) | beam.ParDo(_Counter()))
    assert_that(out, equal_to([("a", 1), ("a", 2), ("b", 1)]))


def test_option_views_are_made_once_and_share_every_value():
  from apache_beam.options.pipeline_options import PipelineOptions, SetupOptions, TypeOptions
  beam_signatures.cache_option_views()
  view_as = PipelineOptions.view_as
  beam_signatures.cache_option_views()
  assert PipelineOptions.view_as is view_as  # applying twice keeps one cache
  options = PipelineOptions(["--save_main_session", "--type_check_strictness=ALL_REQUIRED"])
  types = options.view_as(TypeOptions)
  assert options.view_as(TypeOptions) is types
  assert types.type_check_strictness == "ALL_REQUIRED"
  assert options.view_as(SetupOptions).save_main_session
  types.pipeline_type_check = False  # set through one view, read through a fresh one
  assert options.view_as(TypeOptions).pipeline_type_check is False
  assert view_as.uncached(options, TypeOptions).pipeline_type_check is False
  other = PipelineOptions([])  # another options object has its own views and values
  assert other.view_as(TypeOptions) is not types and other.view_as(TypeOptions).pipeline_type_check
  ref = weakref.ref(options)
  del options, types
  gc.collect()
  assert ref() is None  # nothing kept alive


def test_a_pipeline_runs_with_cached_option_views():
  from apache_beam.options.pipeline_options import PipelineOptions
  beam_signatures.cache_function_signatures()
  beam_signatures.cache_option_views()
  with beam.Pipeline(options=PipelineOptions(["--direct_num_workers=1"])) as p:
    out = p | beam.Create([1, 2, 3]) | beam.Map(lambda x: x * 2) | beam.CombineGlobally(sum)
    assert_that(out, equal_to([12]))

"""Render bounds: every runaway template stops with one clear error naming the prompt and the bound."""

from __future__ import annotations

import threading
import time

import pytest

from plg.errors import RenderBoundExceeded, TemplateError
from plg.registry.prompt import parse_prompt
from plg.registry.template import render_string


def render(template: str, **values: object) -> str:
    return parse_prompt(template, "prompts/evil.prompt").render(values)[0].content


@pytest.fixture
def short_deadline(monkeypatch: pytest.MonkeyPatch) -> float:
    monkeypatch.setattr("plg.registry.bounds.MAX_RENDER_SECONDS", 0.3)
    return 0.3


@pytest.mark.parametrize(
    ("template", "bound"),
    [
        ('{% for a in "x"*100000 %}{% for b in "x"*100000 %}{% endfor %}{% endfor %}done', "loop iterations"),
        ("{{ (9**99999999) > 1 }}", "16,384 bits"),
        ("{{ 'a'.center(3000000000)|length }}", "1,000,000 characters"),
        ("{{ 'a'|center(3000000000)|length }}", "1,000,000 characters"),
        ("{{ ('x' * 10**10)|length }}", "1,000,000 characters"),
        ("{% for i in range(10**9) %}{% endfor %}", "100,000 items"),
        ("{{ 'x'|indent(1)|batch(10**10)|list }}", "1,000,000 characters"),
    ],
)
def test_oversized_constants_and_loops_are_refused_before_running(template: str, bound: str) -> None:
    start = time.monotonic()
    with pytest.raises(RenderBoundExceeded) as caught:
        render(template)
    assert time.monotonic() - start < 1
    message = str(caught.value)
    assert message.startswith("prompts/evil.prompt, line 1:") and bound in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("template", "bound"),
    [
        (
            "{% set ns = namespace(l=[1]) %}{% for i in range(40) %}{% set ns.l = ns.l + ns.l %}{% endfor %}",
            "value size",
        ),
        (
            "{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
            "value size",
        ),
        (
            "{% set ns = namespace(s='') %}{% for i in range(99) %}{% set ns.s %}{{ns.s}}{{ns.s}}x{% endset %}{% endfor %}",
            "value size",
        ),
        ("{% for i in range(100000) %}{% set ns = namespace(l=['x'*n]) %}{% endfor %}", "render work"),
        ("{{ '%999999999d' % 1 }}", "value size"),
        ("{{ '{:>999999999}'.format(1) }}", "value size"),
        ("{{ '{:>{w}}'.format(1, w=n*n) }}", "value size"),
        ("{{ 'a'.center(n*n) }}", "value size"),
        ("{{ 'x'|replace('', 'y'*n) }}{{ ('x'*n)|replace('', 'y'*n) }}", "value size"),
        (
            "{% set a = 'x'*n %}{% set b = [a,a,a,a,a,a,a,a,a,a] %}{% set c = [b,b,b,b,b,b,b,b,b,b] %}{{ c }}",
            "value size",
        ),
        ("{% set a = 'x'*n %}{% set b = [a,a,a,a,a,a,a,a,a,a] %}{{ b|join }}", "value size"),
        ("{% set a = 'x'*n %}{{ ''.join([a]*100000)|length }}", "value size"),
        ("{% set a = 'x'*n %}{{ [a, a]|tojson }}", "value size"),
        ("{{ 99**n }}", "bits"),
        ("{{ ('x'*20000)|list|map('list')|sum(start=[]) }}", "value size"),
    ],
)
def test_runtime_growth_stops_before_allocating(template: str, bound: str) -> None:
    start = time.monotonic()
    with pytest.raises(RenderBoundExceeded) as caught:
        render(template, n=1_000_000)
    assert time.monotonic() - start < 5
    assert str(caught.value).startswith("prompts/evil.prompt") and bound in str(caught.value)


def test_call_free_loops_stop_at_the_time_bound(short_deadline: float) -> None:
    """Loops over input data cannot be sized statically; the watchdog stops them from outside."""
    start = time.monotonic()
    with pytest.raises(RenderBoundExceeded, match=r"prompts/evil.prompt: render stopped after 0.3 s"):
        render(
            "{% for a in x %}{% for b in x %}{% for c in x %}{% endfor %}{% endfor %}{% endfor %}",
            x="y" * 10_000,
        )
    assert time.monotonic() - start < short_deadline + 0.5


def test_recursive_macro_is_a_clear_error() -> None:
    with pytest.raises(RenderBoundExceeded, match="prompts/evil.prompt: render stopped: recursion too deep"):
        render("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}")


def test_a_timed_out_render_leaves_the_thread_usable(short_deadline: float) -> None:
    """The watchdog's exception must never surface after the render: the next renders and code run normally."""
    for _ in range(3):
        with pytest.raises(RenderBoundExceeded):
            render("{% for a in x %}{% for b in x %}{% endfor %}{% endfor %}", x="y" * 100_000)
        assert render("hello {{ who }}", who="ada") == "hello ada"
        time.sleep(short_deadline + 0.1)
        assert sum(range(1000)) == 499500


def test_renders_in_many_threads_are_bounded_independently(short_deadline: float) -> None:
    results: dict[str, str] = {}

    def work(kind: str) -> None:
        try:
            if kind.startswith("slow"):
                render("{% for a in x %}{% for b in x %}{% endfor %}{% endfor %}", x="y" * 100_000)
            for _ in range(200):
                render("{{ who }}!", who=kind)
            results[kind] = "ok"
        except TemplateError as err:
            results[kind] = str(err)

    threads = [threading.Thread(target=work, args=(k,)) for k in ("slow1", "fast1", "slow2", "fast2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert results["fast1"] == results["fast2"] == "ok"
    assert (
        "render stopped after 0.3 s" in results["slow1"] and "render stopped after 0.3 s" in results["slow2"]
    )


def test_ordinary_templates_still_render() -> None:
    text = render(
        "{{ 'abc %s' % who }} {{ '{} and {}'.format(1, 2) }} {{ items|join(', ') }} [{{ 'x'|center(5) }}] "
        "{{ 2**10 }} {{ 'ab' * 3 }} {{ items + ['c'] }} {{ who ~ '!' }} {{ 'x'|indent(2, true) }} "
        "{{ 'ab cd ef'|wordwrap(3) }} {{ 'aXb'|replace('X', '-') }} {{ 'Order 1234567890' }}"
        "{% for i in range(3) %}{{ i }}{% endfor %}",
        who="ada",
        items=["a", "b"],
    )
    assert text == (
        "abc ada 1 and 2 a, b [  x  ] 1024 ababab ['a', 'b', 'c'] ada!   x ab\ncd\nef a-b Order 1234567890012"
    )


def test_scorer_values_render_in_the_same_bounds() -> None:
    with pytest.raises(RenderBoundExceeded, match="scorer 'x'"):
        render_string("{{ 'a' * 10**10 }}", {}, "scorer 'x'")


def test_template_errors_from_jinja_itself_are_one_line() -> None:
    with pytest.raises(TemplateError, match="render failed"):
        render("{% set x = 1 %}{% set x.y = 2 %}")
    with pytest.raises(TemplateError, match="template syntax error"):
        render("{{ " + "9" * 5000 + " }}")
    with pytest.raises(TemplateError, match="autoescape"):
        render("{% autoescape 'x'|center(3000000000) %}x{% endautoescape %}")

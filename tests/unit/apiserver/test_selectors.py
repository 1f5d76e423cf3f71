"""Label and field selectors parse, print and match like Kubernetes'."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hyperpod.apiserver.errors import BadRequest
from hyperpod.apiserver.selectors import (
    FieldSelector,
    Operator,
    Requirement,
    label_selector_from_dict,
    object_fields,
    parse_field_selector,
    parse_label_selector,
    selector_from_set,
)

LABELS = {"app": "web", "tier": "front", "example.com/team": "ml", "gen": "5"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", True),
        ("app=web", True),
        ("app==web", True),
        ("app!=web", False),
        ("app!=db", True),
        ("missing!=x", True),
        ("app in (web,db)", True),
        ("app in (db)", False),
        ("app notin (db, cache)", True),
        ("missing notin (x)", True),
        ("app", True),
        ("missing", False),
        ("!missing", True),
        ("!app", False),
        ("app=web,tier=front", True),
        ("app=web,tier=back", False),
        ("example.com/team=ml", True),
        ("gen>3", True),
        ("gen<3", False),
        ("missing>3", False),
        ("  app = web , !missing  ", True),
    ],
)
def test_label_selectors_match_like_kubernetes(text: str, expected: bool) -> None:
    assert parse_label_selector(text).matches(LABELS) is expected


def test_a_selector_with_an_empty_value_matches_an_empty_label() -> None:
    sel = parse_label_selector("a=")
    assert sel.matches({"a": ""})
    assert not sel.matches({"a": "x"})
    assert str(sel) == "a="


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("app in web", "expected: '('"),
        ("app in (web", "expected: ')'"),
        ("app in ()", "values set can't be empty"),
        ("app=web,", "expected: identifier"),
        ("=web", "identifier"),
        ("app=we b", "expected: ',' or 'end of string'"),
        ("a b", "expected: in, notin"),
        ("app=web!", "expected"),
        ("-bad-=x", 'key: Invalid value: "-bad-"'),
        ("app=-bad-", 'Invalid value: "-bad-"'),
        ("gen>x", "must be an integer"),
        ("!app=web", "expected: ',' or 'end of string'"),
    ],
)
def test_malformed_label_selectors_are_a_bad_request_naming_the_problem(
    text: str, fragment: str
) -> None:
    with pytest.raises(BadRequest) as excinfo:
        parse_label_selector(text)
    assert excinfo.value.message.startswith("unable to parse requirement: ")
    assert fragment in excinfo.value.message


def test_the_canonical_string_is_sorted_and_normalised() -> None:
    sel = parse_label_selector("z in (b,a,b), a==1, !m, k")
    assert str(sel) == "a=1,k,!m,z in (a,b)"


def test_an_empty_selector_is_empty_and_matches_objects_without_labels() -> None:
    sel = parse_label_selector("")
    assert sel.empty
    assert sel.matches(None)
    assert not parse_label_selector("a").empty
    assert parse_label_selector(None).empty


def test_a_dict_selector_combines_match_labels_and_expressions() -> None:
    sel = label_selector_from_dict(
        {
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["front", "back"]},
                {"key": "gone", "operator": "DoesNotExist"},
                {"key": "gen", "operator": "Exists"},
                {"key": "example.com/team", "operator": "NotIn", "values": ["ops"]},
            ],
        }
    )
    assert sel.matches(LABELS)
    assert not sel.matches({**LABELS, "gone": "1"})
    assert str(sel) == "app=web,example.com/team notin (ops),gen,!gone,tier in (back,front)"


def test_a_missing_dict_selector_matches_nothing_and_an_empty_one_everything() -> None:
    assert not label_selector_from_dict(None).matches({})
    assert not label_selector_from_dict(None).empty
    assert label_selector_from_dict({}).matches({"x": "y"})
    assert label_selector_from_dict({}).empty


@pytest.mark.parametrize(
    ("sel", "fragment"),
    [
        ({"matchExpressions": [{"key": "a", "operator": "Bogus"}]}, "matchExpressions[0].operator"),
        ({"matchExpressions": [{"key": "a", "operator": "In"}]}, "matchExpressions[0].values"),
        (
            {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
            "must be empty",
        ),
        ({"matchLabels": {"a": 1}}, "matchLabels[a]"),
        ({"matchLabels": {"bad key": "x"}}, "matchLabels: key: Invalid value"),
        ({"matchLabels": ["a"]}, "matchLabels"),
        ({"matchExpressions": {}}, "matchExpressions"),
        ({"matchExpressions": ["x"]}, "matchExpressions[0]"),
        ("a=b", "selector"),
    ],
)
def test_invalid_dict_selectors_name_the_field(sel: object, fragment: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        label_selector_from_dict(sel)  # type: ignore[arg-type]
    assert fragment in str(excinfo.value)


def test_a_plain_map_selects_by_equality() -> None:
    assert selector_from_set({"app": "web"}).matches(LABELS)
    assert not selector_from_set({"app": "db"}).matches(LABELS)
    assert selector_from_set(None).empty


# --- property tests -----------------------------------------------------------------------

_names = st.from_regex(r"[a-z0-9]([a-z0-9._-]{0,6}[a-z0-9])?", fullmatch=True)
_prefixes = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?", fullmatch=True)
_keys = st.one_of(_names, st.builds(lambda p, n: f"{p}.io/{n}", _prefixes, _names))
_values = st.one_of(st.just(""), _names)


@st.composite
def requirements(draw: st.DrawFn) -> Requirement:
    key = draw(_keys)
    op = draw(
        st.sampled_from(
            [
                Operator.EQUALS,
                Operator.NOT_EQUALS,
                Operator.IN,
                Operator.NOT_IN,
                Operator.EXISTS,
                Operator.DOES_NOT_EXIST,
            ]
        )
    )
    if op in (Operator.IN, Operator.NOT_IN):
        values = tuple(sorted(set(draw(st.lists(_names, min_size=1, max_size=3)))))
    elif op in (Operator.EXISTS, Operator.DOES_NOT_EXIST):
        values = ()
    else:
        values = (draw(_values),)
    return Requirement(key, op, values)


def _reference_match(reqs: list[Requirement], labels: dict[str, str]) -> bool:
    for r in reqs:
        present = r.key in labels
        value = labels.get(r.key)
        if r.operator in (Operator.EQUALS, Operator.IN):
            ok = present and value in r.values
        elif r.operator in (Operator.NOT_EQUALS, Operator.NOT_IN):
            ok = not present or value not in r.values
        elif r.operator is Operator.EXISTS:
            ok = present
        else:
            ok = not present
        if not ok:
            return False
    return True


@given(st.lists(requirements(), max_size=5))
def test_parsing_the_canonical_string_round_trips(reqs: list[Requirement]) -> None:
    text = ",".join(str(r) for r in reqs)
    sel = parse_label_selector(text)
    assert set(sel.requirements) == set(reqs)
    assert parse_label_selector(str(sel)) == sel


@given(
    st.lists(requirements(), max_size=4),
    st.dictionaries(_keys, _values, max_size=4),
)
def test_matching_agrees_with_a_reference_implementation(
    reqs: list[Requirement], labels: dict[str, str]
) -> None:
    # Make some labels line up with the requirements so both outcomes are exercised.
    for r in reqs[:2]:
        if r.values:
            labels[r.key] = r.values[0]
    sel = parse_label_selector(",".join(str(r) for r in reqs))
    assert sel.matches(labels) is _reference_match(reqs, labels)


# --- field selectors ----------------------------------------------------------------------


def test_field_selectors_match_equalities_and_inequalities() -> None:
    fields = {"metadata.name": "a", "status.phase": "Running", "spec.nodeName": ""}
    assert parse_field_selector("metadata.name=a").matches(fields)
    assert parse_field_selector("metadata.name==a,status.phase=Running").matches(fields)
    assert not parse_field_selector("status.phase!=Running").matches(fields)
    assert parse_field_selector("spec.nodeName=").matches(fields)
    assert parse_field_selector("spec.nodeName!=").matches({"spec.nodeName": "n1"})
    assert parse_field_selector("").matches(fields)
    assert parse_field_selector(None).empty


def test_field_selectors_report_their_fields_and_exact_values() -> None:
    sel = parse_field_selector("metadata.name=a,status.phase!=Failed")
    assert sel.fields() == {"metadata.name", "status.phase"}
    assert sel.exact("metadata.name") == "a"
    assert sel.exact("status.phase") is None
    assert str(sel) == "metadata.name=a,status.phase!=Failed"


def test_field_selector_values_may_escape_commas_and_equals() -> None:
    sel = parse_field_selector(r"reason=a\,b\=c\\d")
    assert sel.exact("reason") == "a,b=c\\d"
    assert parse_field_selector(str(sel)) == sel


@pytest.mark.parametrize("text", ["metadata.name", "=x", "a=b=c", "a=b\\x", "a"])
def test_malformed_field_selectors_are_a_bad_request(text: str) -> None:
    with pytest.raises(BadRequest) as excinfo:
        parse_field_selector(text)
    assert "selector" in excinfo.value.message
    assert text in excinfo.value.message


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["metadata.name", "status.phase", "reason"]),
            st.text(max_size=6),
            st.booleans(),
        ),
        max_size=4,
    )
)
def test_field_selector_strings_round_trip(clauses: list[tuple[str, str, bool]]) -> None:
    from hyperpod.apiserver.selectors import FieldRequirement

    sel = FieldSelector(tuple(FieldRequirement(f, v, n) for f, v, n in clauses))
    assert parse_field_selector(str(sel)) == sel


def test_pods_expose_their_selectable_fields() -> None:
    pod = {
        "metadata": {"name": "p", "namespace": "ns"},
        "spec": {"nodeName": "n1", "schedulerName": "default-scheduler", "restartPolicy": "Never"},
        "status": {"phase": "Running", "podIP": "127.0.0.1"},
    }
    fields = object_fields("Pod", pod)
    assert fields["metadata.name"] == "p"
    assert fields["metadata.namespace"] == "ns"
    assert fields["spec.nodeName"] == "n1"
    assert fields["status.phase"] == "Running"
    assert fields["status.podIP"] == "127.0.0.1"
    assert fields["spec.restartPolicy"] == "Never"
    assert fields["spec.schedulerName"] == "default-scheduler"
    assert fields["spec.hostNetwork"] == "false"


def test_events_expose_involved_object_fields_and_source_component() -> None:
    ev = {
        "metadata": {"name": "e", "namespace": "ns"},
        "involvedObject": {"kind": "Pod", "name": "p", "namespace": "ns", "uid": "u1"},
        "reason": "Started",
        "source": {"component": "kubelet"},
        "type": "Normal",
    }
    fields = object_fields("Event", ev)
    sel = parse_field_selector(
        "involvedObject.name=p,involvedObject.namespace=ns,involvedObject.uid=u1"
    )
    assert sel.matches(fields)
    assert fields["source"] == "kubelet"
    assert fields["involvedObject.fieldPath"] == ""
    assert fields["type"] == "Normal"


def test_nodes_secrets_namespaces_and_other_kinds_expose_their_fields() -> None:
    assert object_fields("Node", {"metadata": {"name": "n"}, "spec": {"unschedulable": True}}) == {
        "metadata.name": "n",
        "metadata.namespace": "",
        "spec.unschedulable": "true",
    }
    assert (
        object_fields("Secret", {"metadata": {"name": "s"}, "type": "Opaque"})["type"] == "Opaque"
    )
    ns = object_fields("Namespace", {"metadata": {"name": "x"}, "status": {"phase": "Active"}})
    assert ns["status.phase"] == "Active"
    assert object_fields("ConfigMap", {"metadata": {"name": "c", "namespace": "d"}}) == {
        "metadata.name": "c",
        "metadata.namespace": "d",
    }


@given(st.text(alphabet="ab=!(), inotx.-/_<>9\\", max_size=20))
def test_any_text_either_parses_or_is_a_bad_request(text: str) -> None:
    for parse in (parse_label_selector, parse_field_selector):
        try:
            sel = parse(text)
        except BadRequest:
            continue
        str(sel)
        sel.matches({"a": "b"})


def test_objects_with_malformed_metadata_still_have_fields() -> None:
    assert object_fields("Pod", {"metadata": 1, "spec": None}) == {
        "metadata.name": "",
        "metadata.namespace": "",
        "spec.nodeName": "",
        "spec.restartPolicy": "",
        "spec.schedulerName": "",
        "spec.serviceAccountName": "",
        "spec.hostNetwork": "false",
        "status.phase": "",
        "status.podIP": "",
        "status.nominatedNodeName": "",
    }

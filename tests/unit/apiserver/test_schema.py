"""Structural schemas default, prune and validate custom resources like kube-apiserver."""

from __future__ import annotations

from typing import Any

import pytest

from hyperpod.apiserver.schema import apply_schema, check_structural, field_path, json_type

REPLICA = {
    "type": "object",
    "properties": {
        "replicas": {"type": "integer", "format": "int32", "minimum": 0, "default": 1},
        "restartPolicy": {
            "type": "string",
            "enum": ["Always", "OnFailure", "Never", "ExitCode"],
            "default": "OnFailure",
        },
        "template": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    },
}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "required": ["pytorchReplicaSpecs"],
            "properties": {
                "pytorchReplicaSpecs": {"type": "object", "additionalProperties": REPLICA},
                "runPolicy": {
                    "type": "object",
                    "default": {},
                    "properties": {
                        "cleanPodPolicy": {"type": "string", "default": "None"},
                        "backoffLimit": {"type": "integer", "nullable": True},
                    },
                },
                "nprocPerNode": {"x-kubernetes-int-or-string": True},
                "tags": {
                    "type": "array",
                    "maxItems": 3,
                    "uniqueItems": True,
                    "items": {
                        "type": "string",
                        "minLength": 2,
                        "maxLength": 5,
                        "pattern": "^[a-z]+$",
                    },
                },
                "ratio": {"type": "number", "minimum": 0, "exclusiveMinimum": True, "maximum": 1},
                "when": {"type": "string", "format": "date-time"},
                "labels": {
                    "type": "object",
                    "maxProperties": 2,
                    "minProperties": 1,
                    "additionalProperties": {"type": "string"},
                },
                "items": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "name": {"type": "string"},
                            "size": {"type": "integer", "default": 5},
                        },
                    },
                },
                "flag": {"type": "boolean"},
                "template": {
                    "type": "object",
                    "x-kubernetes-embedded-resource": True,
                    "properties": {"spec": {"type": "object"}},
                },
            },
        },
        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    },
}


def job(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": {"name": "j", "namespace": "default", "labels": {"a": "b"}},
        "spec": {"pytorchReplicaSpecs": {"Worker": {"replicas": 2}}, **spec},
    }


def messages(causes: list[dict[str, str]]) -> dict[str, str]:
    return {c["field"]: c["message"] for c in causes}


def test_a_valid_object_gets_defaults_in_maps_and_array_items() -> None:
    obj = job(items=[{"name": "a"}, {"name": "b", "size": 1}])
    obj["spec"]["pytorchReplicaSpecs"]["Master"] = {}
    causes, unknown = apply_schema(obj, SCHEMA)
    assert causes == [] and unknown == []
    assert obj["spec"]["pytorchReplicaSpecs"]["Worker"] == {
        "replicas": 2,
        "restartPolicy": "OnFailure",
    }
    assert obj["spec"]["pytorchReplicaSpecs"]["Master"] == {
        "replicas": 1,
        "restartPolicy": "OnFailure",
    }
    assert obj["spec"]["runPolicy"] == {"cleanPodPolicy": "None"}
    assert [i["size"] for i in obj["spec"]["items"]] == [5, 1]
    assert obj["metadata"]["labels"] == {"a": "b"}


def test_unknown_fields_are_pruned_and_reported() -> None:
    obj = job(foo=1)
    obj["spec"]["pytorchReplicaSpecs"]["Worker"]["bar"] = {"x": 1}
    obj["metadata"]["bogus"] = 1
    obj["extra"] = True
    causes, unknown = apply_schema(obj, SCHEMA)
    assert causes == []
    assert sorted(unknown) == [
        ".extra",
        ".metadata.bogus",
        ".spec.foo",
        ".spec.pytorchReplicaSpecs.Worker.bar",
    ]
    assert "foo" not in obj["spec"] and "extra" not in obj and "bogus" not in obj["metadata"]
    assert obj["apiVersion"] == "kubeflow.org/v1" and obj["kind"] == "PyTorchJob"


def test_without_pruning_unknown_fields_are_only_reported() -> None:
    obj = job(foo=1)
    _, unknown = apply_schema(obj, SCHEMA, prune=False)
    assert unknown == [".spec.foo"]
    assert obj["spec"]["foo"] == 1


def test_preserve_unknown_fields_keeps_everything_below() -> None:
    obj = job()
    obj["spec"]["pytorchReplicaSpecs"]["Worker"]["template"] = {
        "spec": {"containers": [{"name": "c"}]}
    }
    obj["status"] = {"anything": {"goes": [1]}}
    causes, unknown = apply_schema(obj, SCHEMA)
    assert causes == [] and unknown == []
    assert obj["status"] == {"anything": {"goes": [1]}}
    assert obj["spec"]["pytorchReplicaSpecs"]["Worker"]["template"]["spec"]["containers"] == [
        {"name": "c"}
    ]


def test_a_wrong_type_is_reported_in_kubernetes_words() -> None:
    obj = job()
    obj["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"] = "two"
    causes, _ = apply_schema(obj, SCHEMA)
    assert messages(causes) == {
        "spec.pytorchReplicaSpecs.Worker.replicas": 'Invalid value: "string": '
        "spec.pytorchReplicaSpecs.Worker.replicas in body must be of type integer: "
        '"string"'
    }


def test_required_fields_enum_and_bounds_are_checked() -> None:
    obj: dict[str, Any] = {
        "apiVersion": "x/v1",
        "kind": "K",
        "metadata": {"name": "n"},
        "spec": {"ratio": 0, "flag": "yes"},
    }
    causes, _ = apply_schema(obj, SCHEMA)
    got = messages(causes)
    assert got["spec.pytorchReplicaSpecs"] == "Required value"
    assert got["spec.ratio"] == "Invalid value: 0: spec.ratio in body should be greater than 0"
    assert got["spec.flag"].endswith('must be of type boolean: "string"')
    obj = job()
    obj["spec"]["pytorchReplicaSpecs"]["Worker"].update(restartPolicy="Sometimes", replicas=-1)
    obj["spec"]["ratio"] = 2
    got = messages(apply_schema(obj, SCHEMA)[0])
    assert got["spec.pytorchReplicaSpecs.Worker.restartPolicy"] == (
        'Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never", "ExitCode"'
    )
    assert got["spec.pytorchReplicaSpecs.Worker.replicas"] == (
        "Invalid value: -1: spec.pytorchReplicaSpecs.Worker.replicas in body should be greater "
        "than or equal to 0"
    )
    assert (
        got["spec.ratio"]
        == "Invalid value: 2: spec.ratio in body should be less than or equal to 1"
    )


def test_string_and_array_constraints_are_checked() -> None:
    obj = job(tags=["a", "toolong", "ok", "ok"], when="yesterday")
    got = messages(apply_schema(obj, SCHEMA)[0])
    assert (
        got["spec.tags[0]"]
        == 'Invalid value: "a": spec.tags[0] in body should be at least 2 chars long'
    )
    assert got["spec.tags[1]"] == "Too long: may not be more than 5 bytes"
    assert got["spec.tags"] == "Too many: 4: must have at most 3 items"
    assert got["spec.tags[3]"] == 'Duplicate value: "ok"'
    assert (
        got["spec.when"]
        == 'Invalid value: "yesterday": spec.when in body must be of type date-time: "yesterday"'
    )
    obj = job(tags=["AB"], when="2024-01-02T03:04:05Z")
    got = messages(apply_schema(obj, SCHEMA)[0])
    assert got == {
        "spec.tags[0]": "Invalid value: \"AB\": spec.tags[0] in body should match '^[a-z]+$'"
    }


def test_int32_bounds_int_or_string_and_property_counts() -> None:
    obj = job(nprocPerNode="auto", labels={})
    obj["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"] = 2**31
    got = messages(apply_schema(obj, SCHEMA)[0])
    assert got["spec.pytorchReplicaSpecs.Worker.replicas"].endswith(
        'must be of type int32: "2147483648"'
    )
    assert (
        got["spec.labels"]
        == "Invalid value: 0: spec.labels in body should have at least 1 properties"
    )
    assert "spec.nprocPerNode" not in got
    got = messages(
        apply_schema(job(nprocPerNode=[1], labels={"a": "1", "b": "2", "c": "3"}), SCHEMA)[0]
    )
    assert got["spec.nprocPerNode"].endswith('must be of type integer or string: "array"')
    assert got["spec.labels"] == "Too many: 3: must have at most 2 items"
    assert apply_schema(job(nprocPerNode=4), SCHEMA)[0] == []


def test_nulls_are_dropped_unless_nullable_and_then_defaulted() -> None:
    obj = job(runPolicy={"cleanPodPolicy": None, "backoffLimit": None}, flag=None)
    causes, _ = apply_schema(obj, SCHEMA)
    assert causes == []
    assert obj["spec"]["runPolicy"] == {"cleanPodPolicy": "None", "backoffLimit": None}
    assert "flag" not in obj["spec"]


def test_null_array_items_are_a_type_error() -> None:
    got = messages(apply_schema(job(tags=[None]), SCHEMA)[0])
    assert got["spec.tags[0]"].endswith('must be of type string: "null"')


def test_embedded_resources_need_api_version_and_kind_and_keep_metadata() -> None:
    obj = job(template={"metadata": {"name": "x", "weird": 1}, "spec": {}})
    causes, unknown = apply_schema(obj, SCHEMA)
    assert messages(causes) == {
        "spec.template.apiVersion": "Required value",
        "spec.template.kind": "Required value",
    }
    assert unknown == [".spec.template.metadata.weird"]
    assert obj["spec"]["template"]["metadata"] == {"name": "x"}


def test_the_input_keeps_root_metadata_even_if_the_schema_declares_it() -> None:
    schema = {
        "type": "object",
        "properties": {"metadata": {"type": "object"}, "spec": {"type": "object"}},
    }
    obj = {"metadata": {"name": "n", "labels": {"a": "b"}}, "spec": {}}
    assert apply_schema(obj, schema) == ([], [])
    assert obj["metadata"] == {"name": "n", "labels": {"a": "b"}}


def test_helpers_name_types_and_paths() -> None:
    values: tuple[Any, ...] = (None, True, 1, 1.5, "s", [], {})
    assert [json_type(v) for v in values] == [
        "null",
        "boolean",
        "integer",
        "number",
        "string",
        "array",
        "object",
    ]
    assert field_path(["spec", "items", 0, "name"]) == "spec.items[0].name"


def test_a_good_schema_is_structural() -> None:
    assert check_structural(SCHEMA, "spec.versions[0].schema.openAPIV3Schema") == []


@pytest.mark.parametrize(
    ("schema", "field", "fragment"),
    [
        ({"properties": {}}, "s.type", "must be object at the root"),
        ({"type": "array", "items": {"type": "string"}}, "s.type", 'Unsupported value: "array"'),
        ({"type": "object", "properties": {"a": {}}}, "s.properties[a].type", "must not be empty"),
        (
            {"type": "object", "properties": {"a": {"type": "strung"}}},
            "s.properties[a].type",
            "Unsupported value",
        ),
        (
            {"type": "object", "properties": {"a": {"type": "array"}}},
            "s.properties[a].items",
            "Required value",
        ),
        (
            {
                "type": "object",
                "properties": {"a": {"type": "array", "items": [{"type": "string"}]}},
            },
            "s.properties[a].items",
            "not an array",
        ),
        (
            {
                "type": "object",
                "properties": {
                    "a": {
                        "type": "object",
                        "properties": {"b": {"type": "string"}},
                        "additionalProperties": {"type": "string"},
                    }
                },
            },
            "s.properties[a].additionalProperties",
            "mutual exclusive",
        ),
        (
            {
                "type": "object",
                "properties": {"a": {"type": "string", "x-kubernetes-int-or-string": True}},
            },
            "s.properties[a].type",
            "must be empty",
        ),
        (
            {"type": "object", "properties": {"a": {"type": "string", "pattern": "("}}},
            "s.properties[a].pattern",
            "regular expression",
        ),
        (
            {"type": "object", "properties": {"a": {"type": "integer", "default": "x"}}},
            "s.properties[a].default",
            "must be of type integer",
        ),
        ("nope", "s", "Required value"),
    ],
)
def test_non_structural_schemas_are_reported(schema: Any, field: str, fragment: str) -> None:
    causes = check_structural(schema, "s")
    assert any(c["field"] == field and fragment in c["message"] for c in causes), causes


def test_preserve_unknown_fields_nodes_need_no_type() -> None:
    schema = {
        "type": "object",
        "properties": {
            "a": {"x-kubernetes-preserve-unknown-fields": True},
            "b": {"x-kubernetes-int-or-string": True},
        },
    }
    assert check_structural(schema, "s") == []


def test_list_maps_reject_duplicate_keys() -> None:
    schema = {
        "type": "object",
        "properties": {
            "items": {
                "type": "array",
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name"],
                "items": {
                    "type": "object",
                    "properties": {"name": {"type": "string"}, "v": {"type": "integer"}},
                },
            }
        },
    }
    obj = {"items": [{"name": "a", "v": 1}, {"name": "b"}, {"name": "a", "v": 2}]}
    assert messages(apply_schema(obj, schema)[0]) == {"items[2]": 'Duplicate value: {"name":"a"}'}


def test_root_metadata_may_only_constrain_name_and_generate_name() -> None:
    ok = {
        "type": "object",
        "properties": {
            "metadata": {
                "type": "object",
                "properties": {"name": {"type": "string", "maxLength": 10}},
            }
        },
    }
    assert check_structural(ok, "s") == []
    bad = {
        "type": "object",
        "properties": {
            "metadata": {"type": "object", "properties": {"labels": {"type": "object"}}}
        },
    }
    causes = check_structural(bad, "s")
    assert causes[0]["field"] == "s.properties[metadata]"
    assert causes[0]["message"].startswith(
        "Forbidden: must not specify anything other than name and generateName"
    )


RATCHET: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {"type": "object", "properties": {"n": {"type": "integer", "maximum": 3}}},
        "status": {
            "type": "object",
            "properties": {
                "items": {
                    "type": "array",
                    "items": {"type": "object", "properties": {"ok": {"type": "boolean"}}},
                }
            },
        },
    },
}


def test_an_update_checks_what_changed_and_ratchets_what_did_not() -> None:
    # A stored object that the current schema would refuse (as after a schema change).
    old = {"spec": {"n": 9}, "status": {"items": [{"ok": True}]}}
    new = {"spec": {"n": 9}, "status": {"items": [{"ok": True}, {"ok": "yes"}]}}
    causes, _ = apply_schema(new, RATCHET, old=old)
    assert [c["field"] for c in causes] == ["status.items[1].ok"]  # the unchanged spec passes
    changed = {"spec": {"n": 8}, "status": {"items": [{"ok": True}]}}
    causes, _ = apply_schema(changed, RATCHET, old=old)
    assert [c["field"] for c in causes] == ["spec.n"]
    assert apply_schema({"spec": {"n": 9}}, RATCHET)[0]  # a create checks everything


def test_ratcheting_compares_exact_json_types() -> None:
    # True == 1 in Python; a boolean turned into a number is a change and is checked.
    old = {"status": {"items": [{"ok": True}]}}
    causes, _ = apply_schema({"status": {"items": [{"ok": 1}]}}, RATCHET, old=old)
    assert [c["field"] for c in causes] == ["status.items[0].ok"]

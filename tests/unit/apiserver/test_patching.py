"""JSON, merge and strategic merge patches, and server-side apply."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hyperpod.apiserver import errors
from hyperpod.apiserver.patching import (
    PatchType,
    apply_json_patch,
    apply_merge_patch,
    apply_strategic_merge_patch,
    field_paths,
    fields_from_v1,
    fields_to_v1,
    is_missing,
    record_update_manager,
    render_path,
    server_side_apply,
    value_at,
)


def pod(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "default", "labels": {"app": "a"}},
        "spec": spec
        or {
            "containers": [
                {"name": "main", "image": "busybox:1", "env": [{"name": "A", "value": "1"}]},
                {"name": "side", "image": "nginx:1"},
            ]
        },
    }


# --- content types -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ct", "expected"),
    [
        ("application/json-patch+json", PatchType.JSON),
        ("application/merge-patch+json; charset=utf-8", PatchType.MERGE),
        ("application/strategic-merge-patch+json", PatchType.STRATEGIC),
        ("application/apply-patch+yaml", PatchType.APPLY),
        ("application/apply-patch+json", PatchType.APPLY),
        ("Application/JSON-Patch+JSON", PatchType.JSON),
        ("application/json", None),
        ("", None),
        (None, None),
    ],
)
def test_patch_types_are_recognised_from_the_content_type(
    ct: str | None, expected: PatchType | None
) -> None:
    assert PatchType.from_content_type(ct) is expected


# --- JSON patch ----------------------------------------------------------------------------


def test_a_json_patch_applies_operations_and_leaves_the_input_alone() -> None:
    obj = pod()
    before = copy.deepcopy(obj)
    out = apply_json_patch(
        obj,
        [
            {"op": "replace", "path": "/spec/containers/0/image", "value": "busybox:2"},
            {"op": "add", "path": "/metadata/labels/tier", "value": "x"},
            {"op": "remove", "path": "/spec/containers/1"},
            {"op": "test", "path": "/metadata/name", "value": "p"},
        ],
    )
    assert obj == before
    assert out["spec"]["containers"] == [
        {"name": "main", "image": "busybox:2", "env": [{"name": "A", "value": "1"}]}
    ]
    assert out["metadata"]["labels"] == {"app": "a", "tier": "x"}


def test_a_failing_json_patch_test_is_invalid() -> None:
    with pytest.raises(errors.Invalid, match="test failed"):
        apply_json_patch(pod(), [{"op": "test", "path": "/metadata/name", "value": "q"}])


def test_a_json_patch_on_a_missing_path_is_invalid() -> None:
    with pytest.raises(errors.Invalid):
        apply_json_patch(pod(), [{"op": "remove", "path": "/spec/nothing"}])
    with pytest.raises(errors.Invalid):
        apply_json_patch(pod(), [{"op": "replace", "path": "/a/b/c", "value": 1}])


@pytest.mark.parametrize(
    "ops",
    [
        {"op": "add"},
        ["x"],
        [{"path": "/a"}],
        [{"op": "frobnicate", "path": "/a"}],
        [{"op": "add", "path": "/a"}],
    ],
)
def test_a_malformed_json_patch_is_a_bad_request(ops: Any) -> None:
    with pytest.raises(errors.BadRequest):
        apply_json_patch(pod(), ops)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=4),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=8,
)
_keys = st.text(alphabet="abcxyz~/", min_size=1, max_size=4)


@given(st.dictionaries(_keys, _json_values, max_size=4), _keys, _json_values)
def test_json_patch_add_then_remove_round_trips(obj: dict[str, Any], key: str, value: Any) -> None:
    pointer = "/" + key.replace("~", "~0").replace("/", "~1")
    obj.pop(key, None)
    added = apply_json_patch(obj, [{"op": "add", "path": pointer, "value": value}])
    assert added[key] == value
    assert apply_json_patch(added, [{"op": "remove", "path": pointer}]) == obj


# --- merge patch ---------------------------------------------------------------------------


def test_a_merge_patch_merges_maps_deletes_nulls_and_replaces_lists() -> None:
    obj = pod()
    out = apply_merge_patch(
        obj,
        {
            "metadata": {"labels": {"app": None, "new": "1"}},
            "spec": {"containers": [{"name": "only", "image": "x"}]},
        },
    )
    assert out["metadata"]["labels"] == {"new": "1"}
    assert out["spec"]["containers"] == [{"name": "only", "image": "x"}]
    assert obj == pod()


def test_a_merge_patch_must_be_an_object() -> None:
    with pytest.raises(errors.BadRequest, match="merge patch"):
        apply_merge_patch(pod(), [1])  # type: ignore[arg-type]


_objects = st.dictionaries(st.text(alphabet="abc", max_size=2), _json_values, max_size=4)


@given(_objects, _objects)
def test_a_merge_patch_is_idempotent(obj: dict[str, Any], patch: dict[str, Any]) -> None:
    once = apply_merge_patch(obj, patch)
    assert apply_merge_patch(once, patch) == once


@given(_objects)
def test_an_empty_merge_patch_is_the_identity(obj: dict[str, Any]) -> None:
    assert apply_merge_patch(obj, {}) == obj


# --- strategic merge patch -----------------------------------------------------------------


def test_strategic_merge_on_containers_keeps_the_other_containers() -> None:
    out = apply_strategic_merge_patch(
        pod(), {"spec": {"containers": [{"name": "main", "image": "busybox:2"}]}}, "Pod"
    )
    assert out["spec"]["containers"] == [
        {"name": "main", "image": "busybox:2", "env": [{"name": "A", "value": "1"}]},
        {"name": "side", "image": "nginx:1"},
    ]


def test_strategic_merge_merges_env_by_name_and_appends_new_items() -> None:
    out = apply_strategic_merge_patch(
        pod(),
        {
            "spec": {
                "containers": [
                    {
                        "name": "main",
                        "env": [{"name": "B", "value": "2"}, {"name": "A", "value": "9"}],
                    },
                    {"name": "third", "image": "x"},
                ]
            }
        },
        "Pod",
    )
    main, _side, third = out["spec"]["containers"]
    assert main["env"] == [{"name": "A", "value": "9"}, {"name": "B", "value": "2"}]
    assert third == {"name": "third", "image": "x"}


def test_strategic_merge_knows_ports_volumes_mounts_and_conditions() -> None:
    obj = pod(
        containers=[
            {
                "name": "c",
                "ports": [{"containerPort": 80, "name": "http"}],
                "volumeMounts": [{"mountPath": "/a", "name": "v1"}],
            }
        ],
        volumes=[{"name": "v1", "emptyDir": {}}],
    )
    obj["status"] = {"conditions": [{"type": "Ready", "status": "False"}]}
    out = apply_strategic_merge_patch(
        obj,
        {
            "spec": {
                "containers": [
                    {
                        "name": "c",
                        "ports": [{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 81}],
                        "volumeMounts": [{"mountPath": "/b", "name": "v2"}],
                    }
                ],
                "volumes": [{"name": "v2", "emptyDir": {}}],
            },
            "status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "X"}]},
        },
        "Pod",
    )
    c = out["spec"]["containers"][0]
    assert c["ports"] == [
        {"containerPort": 80, "name": "http", "protocol": "TCP"},
        {"containerPort": 81},
    ]
    assert [m["mountPath"] for m in c["volumeMounts"]] == ["/a", "/b"]
    assert [v["name"] for v in out["spec"]["volumes"]] == ["v1", "v2"]
    assert out["status"]["conditions"] == [{"type": "Ready", "status": "True"}, {"type": "X"}]


def test_service_ports_merge_by_port() -> None:
    svc = {"kind": "Service", "spec": {"ports": [{"port": 80, "targetPort": 8080}]}}
    out = apply_strategic_merge_patch(
        svc, {"spec": {"ports": [{"port": 80, "name": "h"}]}}, "Service"
    )
    assert out["spec"]["ports"] == [{"port": 80, "targetPort": 8080, "name": "h"}]


def test_tolerations_are_replaced_whole_like_kubernetes() -> None:
    obj = pod(containers=[{"name": "c"}], tolerations=[{"key": "a"}, {"key": "b"}])
    out = apply_strategic_merge_patch(obj, {"spec": {"tolerations": [{"key": "b"}]}}, "Pod")
    assert out["spec"]["tolerations"] == [{"key": "b"}]


def test_finalizers_merge_as_a_set_and_delete_from_primitive_list_removes() -> None:
    obj = {"metadata": {"finalizers": ["a", "b"]}}
    out = apply_strategic_merge_patch(obj, {"metadata": {"finalizers": ["c", "a"]}}, "Pod")
    assert out["metadata"]["finalizers"] == ["a", "b", "c"]
    out = apply_strategic_merge_patch(
        obj, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}, "Pod"
    )
    assert out["metadata"]["finalizers"] == ["b"]


def test_patch_delete_removes_a_list_element_and_null_removes_a_key() -> None:
    out = apply_strategic_merge_patch(
        pod(),
        {
            "metadata": {"labels": {"app": None}},
            "spec": {"containers": [{"name": "side", "$patch": "delete"}]},
        },
        "Pod",
    )
    assert [c["name"] for c in out["spec"]["containers"]] == ["main"]
    assert out["metadata"]["labels"] == {}


def test_patch_replace_replaces_a_map_or_a_list() -> None:
    out = apply_strategic_merge_patch(
        pod(), {"metadata": {"labels": {"$patch": "replace", "only": "x"}}}, "Pod"
    )
    assert out["metadata"]["labels"] == {"only": "x"}
    out = apply_strategic_merge_patch(
        pod(),
        {"spec": {"containers": [{"$patch": "replace"}, {"name": "new", "image": "i"}]}},
        "Pod",
    )
    assert out["spec"]["containers"] == [{"name": "new", "image": "i"}]


def test_patch_delete_on_a_map_removes_it() -> None:
    obj = pod()
    obj["spec"]["securityContext"] = {"runAsUser": 1}
    out = apply_strategic_merge_patch(
        obj, {"spec": {"securityContext": {"$patch": "delete"}}}, "Pod"
    )
    assert "securityContext" not in out["spec"]


def test_retain_keys_drops_fields_not_listed() -> None:
    obj = {"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}}
    out = apply_strategic_merge_patch(
        obj, {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}, "Deployment"
    )
    assert out["spec"]["strategy"] == {"type": "Recreate"}
    with pytest.raises(errors.Invalid):
        apply_strategic_merge_patch(
            obj, {"spec": {"strategy": {"$retainKeys": ["type"], "other": 1}}}, "Deployment"
        )


def test_set_element_order_reorders_the_merged_list() -> None:
    out = apply_strategic_merge_patch(
        pod(),
        {
            "spec": {
                "$setElementOrder/containers": [{"name": "side"}, {"name": "main"}],
                "containers": [{"name": "side", "image": "nginx:2"}],
            }
        },
        "Pod",
    )
    assert [c["name"] for c in out["spec"]["containers"]] == ["side", "main"]
    assert out["spec"]["containers"][0]["image"] == "nginx:2"


def test_list_items_without_the_merge_key_are_a_bad_request() -> None:
    with pytest.raises(errors.BadRequest, match="does not contain declared merge key: name"):
        apply_strategic_merge_patch(pod(), {"spec": {"containers": [{"image": "x"}]}}, "Pod")


def test_unknown_directives_are_a_bad_request() -> None:
    with pytest.raises(errors.BadRequest):
        apply_strategic_merge_patch(pod(), {"spec": {"$patch": "explode"}}, "Pod")
    with pytest.raises(errors.BadRequest):
        apply_strategic_merge_patch(pod(), {"spec": {"$bogus": 1}}, "Pod")


def test_lists_of_unknown_fields_are_atomic() -> None:
    obj = {"spec": {"args": ["a", "b"]}}
    out = apply_strategic_merge_patch(obj, {"spec": {"args": ["c"]}}, "Pod")
    assert out["spec"]["args"] == ["c"]


@given(
    st.lists(st.sampled_from("abcdef"), unique=True, max_size=5),
    st.lists(st.sampled_from("abcdef"), unique=True, max_size=5),
)
def test_strategic_merge_of_containers_keeps_every_container(
    existing: list[str], patched: list[str]
) -> None:
    obj = pod(containers=[{"name": n, "image": "old"} for n in existing])
    out = apply_strategic_merge_patch(
        obj, {"spec": {"containers": [{"name": n, "image": "new"} for n in patched]}}, "Pod"
    )
    names = [c["name"] for c in out["spec"]["containers"]]
    assert names == existing + [n for n in patched if n not in existing]
    for c in out["spec"]["containers"]:
        assert c["image"] == ("new" if c["name"] in patched else "old")
    assert obj == pod(containers=[{"name": n, "image": "old"} for n in existing])


# --- field sets ----------------------------------------------------------------------------


def test_field_paths_follow_fieldsv1_conventions() -> None:
    paths = field_paths(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p", "labels": {"a": "1"}, "finalizers": ["x"]},
            "spec": {"containers": [{"name": "c", "image": "i"}], "tolerations": [{"key": "k"}]},
        }
    )
    assert paths == {
        ("f:metadata", "f:labels", "f:a"),
        ("f:metadata", "f:finalizers", 'v:"x"'),
        ("f:spec", "f:containers", 'k:{"name":"c"}', "."),
        ("f:spec", "f:containers", 'k:{"name":"c"}', "f:name"),
        ("f:spec", "f:containers", 'k:{"name":"c"}', "f:image"),
        ("f:spec", "f:tolerations"),
    }
    assert fields_from_v1(fields_to_v1(paths)) == paths


def test_paths_render_like_kubernetes() -> None:
    assert render_path(("f:spec", "f:replicas")) == ".spec.replicas"
    assert (
        render_path(("f:spec", "f:containers", 'k:{"name":"c"}', "f:image"))
        == '.spec.containers[name="c"].image'
    )


# --- server-side apply ---------------------------------------------------------------------


def cr(replicas: int, **extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": {"name": "j", "namespace": "default"},
        "spec": {"replicas": replicas, **extra},
    }


def test_apply_creates_an_object_with_a_managed_fields_entry() -> None:
    out = server_side_apply(None, cr(1), "kubectl", force=False)
    assert out["spec"] == {"replicas": 1}
    (entry,) = out["metadata"]["managedFields"]
    assert entry["manager"] == "kubectl"
    assert entry["operation"] == "Apply"
    assert entry["apiVersion"] == "kubeflow.org/v1"
    assert entry["fieldsType"] == "FieldsV1"
    assert entry["fieldsV1"] == {"f:spec": {"f:replicas": {}}}
    assert entry["time"].endswith("Z")


def test_the_same_manager_can_change_its_own_fields() -> None:
    live = server_side_apply(None, cr(1), "kubectl", force=False)
    out = server_side_apply(live, cr(3), "kubectl", force=False)
    assert out["spec"]["replicas"] == 3
    assert len(out["metadata"]["managedFields"]) == 1


def test_another_manager_changing_an_owned_field_conflicts_in_kubernetes_words() -> None:
    live = server_side_apply(None, cr(1), "kubectl-client-side-apply", force=False)
    with pytest.raises(errors.Conflict) as excinfo:
        server_side_apply(live, cr(2), "kubectl", force=False)
    assert excinfo.value.message == (
        'Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" '
        "using kubeflow.org/v1: .spec.replicas"
    )
    assert excinfo.value.causes[0]["field"] == ".spec.replicas"
    assert excinfo.value.causes[0]["reason"] == "FieldManagerConflict"


def test_several_conflicts_are_listed_per_manager() -> None:
    live = server_side_apply(None, cr(1, mode="a"), "one", force=False)
    with pytest.raises(errors.Conflict) as excinfo:
        server_side_apply(live, cr(2, mode="b"), "two", force=False)
    assert excinfo.value.message.startswith('Apply failed with 2 conflicts: conflicts with "one"')
    assert "- .spec.mode" in excinfo.value.message
    assert "- .spec.replicas" in excinfo.value.message


def test_applying_the_same_value_shares_ownership_without_conflict() -> None:
    live = server_side_apply(None, cr(1), "one", force=False)
    out = server_side_apply(live, cr(1), "two", force=False)
    managers = {e["manager"] for e in out["metadata"]["managedFields"]}
    assert managers == {"one", "two"}


def test_force_takes_ownership_from_the_other_manager() -> None:
    live = server_side_apply(None, cr(1, mode="a"), "one", force=False)
    out = server_side_apply(live, cr(2), "two", force=True)
    assert out["spec"] == {"replicas": 2, "mode": "a"}
    owners = {e["manager"]: e["fieldsV1"] for e in out["metadata"]["managedFields"]}
    assert owners["one"] == {"f:spec": {"f:mode": {}}}
    assert owners["two"] == {"f:spec": {"f:replicas": {}}}


def test_fields_a_manager_stops_applying_are_removed_unless_shared() -> None:
    live = server_side_apply(None, cr(1, mode="a", extra="e"), "one", force=False)
    live = server_side_apply(live, cr(1, extra="e"), "two", force=False)
    out = server_side_apply(live, cr(1), "one", force=False)
    assert out["spec"] == {"replicas": 1, "extra": "e"}


def test_apply_merges_built_in_lists_by_key_and_drops_dropped_containers() -> None:
    first = pod()
    live = server_side_apply(None, first, "kubectl", force=False)
    applied = pod(containers=[{"name": "main", "image": "busybox:2"}])
    out = server_side_apply(live, applied, "kubectl", force=False)
    assert out["spec"]["containers"] == [{"name": "main", "image": "busybox:2"}]


def test_apply_keeps_list_elements_owned_by_another_manager() -> None:
    live = server_side_apply(None, pod(containers=[{"name": "a", "image": "1"}]), "m1", force=False)
    live = server_side_apply(live, pod(containers=[{"name": "b", "image": "2"}]), "m2", force=False)
    assert [c["name"] for c in live["spec"]["containers"]] == ["a", "b"]


def test_apply_requires_a_manager_and_a_kind() -> None:
    with pytest.raises(errors.BadRequest, match="fieldManager"):
        server_side_apply(None, cr(1), "", force=False)
    with pytest.raises(errors.BadRequest, match="apiVersion and kind"):
        server_side_apply(None, {"spec": {}}, "m", force=False)


def test_apply_does_not_mutate_its_inputs() -> None:
    live = server_side_apply(None, cr(1), "one", force=False)
    frozen = copy.deepcopy(live)
    applied = cr(1, mode="x")
    server_side_apply(live, applied, "one", force=False)
    assert live == frozen
    assert applied == cr(1, mode="x")


def test_an_update_takes_ownership_of_the_fields_it_changed() -> None:
    live = server_side_apply(None, cr(1, mode="a"), "kubectl", force=False)
    new = copy.deepcopy(live)
    new["spec"]["replicas"] = 5
    record_update_manager(live, new, "controller", "Update")
    owners = {e["manager"]: e for e in new["metadata"]["managedFields"]}
    assert owners["controller"]["operation"] == "Update"
    assert owners["controller"]["fieldsV1"] == {"f:spec": {"f:replicas": {}}}
    assert owners["kubectl"]["fieldsV1"] == {"f:spec": {"f:mode": {}}}
    # A later apply of a different replicas by kubectl conflicts with the controller.
    with pytest.raises(errors.Conflict, match='conflict with "controller"'):
        server_side_apply(new, cr(1, mode="a"), "kubectl", force=False)


def test_an_update_on_create_owns_every_field_and_keeps_old_entries_when_omitted() -> None:
    created = cr(1)
    record_update_manager(None, created, "kubectl-client-side-apply", "Update")
    assert created["metadata"]["managedFields"][0]["fieldsV1"] == {"f:spec": {"f:replicas": {}}}
    new = cr(1)
    record_update_manager(created, new, "kubectl-client-side-apply", "Update")
    assert new["metadata"]["managedFields"] == created["metadata"]["managedFields"]
    untouched = cr(1)
    assert record_update_manager(None, untouched, None) is untouched
    assert "managedFields" not in untouched["metadata"]


def test_an_update_that_removes_fields_drops_their_ownership() -> None:
    live = server_side_apply(None, cr(1, mode="a", extra="e"), "kubectl", force=False)
    new = copy.deepcopy(live)
    del new["spec"]["mode"]
    record_update_manager(live, new, "editor", "Update")
    owners = {e["manager"]: e["fieldsV1"] for e in new["metadata"]["managedFields"]}
    assert owners == {"kubectl": {"f:spec": {"f:extra": {}, "f:replicas": {}}}}


def test_an_update_of_one_container_takes_only_that_containers_changed_field() -> None:
    created = pod()
    record_update_manager(None, created, "creator", "Update")
    new = copy.deepcopy(created)
    new["spec"]["containers"][1]["image"] = "nginx:2"
    new["spec"]["containers"].append({"name": "third", "image": "x"})
    record_update_manager(created, new, "editor", "Update")
    owners = {e["manager"]: fields_from_v1(e["fieldsV1"]) for e in new["metadata"]["managedFields"]}
    side = ("f:spec", "f:containers", 'k:{"name":"side"}')
    third = ("f:spec", "f:containers", 'k:{"name":"third"}')
    assert owners["editor"] == {
        (*side, "f:image"),
        (*third, "."),
        (*third, "f:name"),
        (*third, "f:image"),
    }
    assert (*side, "f:image") not in owners["creator"]
    assert (*side, "f:name") in owners["creator"]


_flat = st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), st.integers(0, 3), max_size=4)


@given(_flat, _flat, _flat)
def test_after_updates_every_owned_field_exists_and_changes_belong_to_the_writer(
    first: dict[str, int], second: dict[str, int], third: dict[str, int]
) -> None:
    objs = [cr(1, **{f"x{k}": v for k, v in spec.items()}) for spec in (first, second, third)]
    record_update_manager(None, objs[0], "m0", "Update")
    for i in (1, 2):
        objs[i]["metadata"]["managedFields"] = copy.deepcopy(
            objs[i - 1]["metadata"].get("managedFields", [])
        )
        record_update_manager(objs[i - 1], objs[i], f"m{i}", "Update")
    final = objs[2]
    owned: dict[str, set[tuple[str, ...]]] = {
        e["manager"]: fields_from_v1(e["fieldsV1"])
        for e in final["metadata"].get("managedFields", [])
    }
    for paths in owned.values():
        for p in paths:
            assert value_at(final, p) is not None and not is_missing(value_at(final, p))
    for k, v in third.items():
        if second.get(k) != v:
            assert ("f:spec", f"f:x{k}") in owned["m2"]


def test_a_repeated_apply_leaves_the_object_unchanged() -> None:
    live = server_side_apply(None, cr(1), "one", force=False)
    live = server_side_apply(live, cr(1), "two", force=False)
    live["metadata"]["managedFields"][0]["time"] = "2020-01-01T00:00:00Z"
    again = server_side_apply(live, cr(1), "one", force=False)
    assert again == live
    changed = server_side_apply(live, cr(1, mode="x"), "one", force=False)
    assert changed["metadata"]["managedFields"][0]["manager"] == "one"
    assert changed["metadata"]["managedFields"][0]["time"] != "2020-01-01T00:00:00Z"


_spec_values = st.dictionaries(
    st.sampled_from(["a", "b", "c"]),
    st.one_of(
        st.integers(0, 2),
        st.dictionaries(st.sampled_from(["x", "y"]), st.integers(0, 2), max_size=2),
    ),
    max_size=3,
)


@given(_spec_values, _spec_values)
def test_forced_apply_makes_every_applied_value_true_and_is_idempotent(
    before: dict[str, Any], applied_spec: dict[str, Any]
) -> None:
    live = server_side_apply(None, {**cr(1), "spec": before}, "other", force=False)
    applied = {**cr(1), "spec": applied_spec}
    out = server_side_apply(live, applied, "me", force=True)
    for path in field_paths(applied):
        want = value_at(applied, path)
        if want == {}:  # an empty map only says the map exists
            assert isinstance(value_at(out, path), dict)
        else:
            assert value_at(out, path) == want
    assert server_side_apply(out, applied, "me", force=False) == out


def test_applying_an_empty_map_neither_clears_nor_conflicts() -> None:
    live = server_side_apply(None, {**cr(1), "spec": {}}, "other", force=False)
    live = server_side_apply(live, {**cr(1), "spec": {"a": 1}}, "third", force=False)
    out = server_side_apply(live, {**cr(1), "spec": {}}, "me", force=False)
    assert out["spec"] == {"a": 1}


_containers = st.lists(
    st.fixed_dictionaries(
        {"name": st.sampled_from(["m", "n", "o"])},
        optional={
            "image": st.sampled_from(["i1", "i2"]),
            "env": st.lists(
                st.fixed_dictionaries(
                    {"name": st.sampled_from(["A", "B"]), "value": st.sampled_from(["1", "2"])}
                ),
                max_size=2,
                unique_by=lambda e: e["name"],
            ),
        },
    ),
    max_size=3,
    unique_by=lambda c: c["name"],
)


@given(_containers, _containers, _containers, st.booleans())
def test_applies_of_keyed_lists_hold_their_values_or_conflict(
    first: list[dict[str, Any]],
    second: list[dict[str, Any]],
    third: list[dict[str, Any]],
    force: bool,
) -> None:
    live = server_side_apply(None, pod(containers=first), "m1", force=False)
    live = server_side_apply(live, pod(containers=second), "m2", force=True)
    applied = pod(containers=third)
    try:
        out = server_side_apply(live, applied, "m1", force=force)
    except errors.Conflict:
        assert not force
        return
    for path in field_paths(applied):
        want = value_at(applied, path)
        if path[-1] == "." or want in ({}, []):  # existence only
            continue
        assert value_at(out, path) == want
    assert server_side_apply(out, applied, "m1", force=False) == out

"""Request attributes come from the URL like kube's RequestInfo, and the authorizer follows
RBAC changes at the next request."""

from __future__ import annotations

from hyperpod.apiserver.authz import Authorizer, attributes
from hyperpod.apiserver.rbac import Attributes, UserInfo
from hyperpod.apiserver.registry import Registry
from hyperpod.controlplane.security import seed_rbac


def test_collection_and_object_verbs_come_from_method_and_path() -> None:
    assert attributes("GET", "/api/v1/namespaces/a/pods", {}) == Attributes(
        "list", resource="pods", namespace="a", path="/api/v1/namespaces/a/pods"
    )
    assert attributes("GET", "/api/v1/pods", {"watch": "true"}).verb == "watch"
    assert attributes("DELETE", "/api/v1/namespaces/a/pods", {}).verb == "deletecollection"
    a = attributes("PATCH", "/apis/kubeflow.org/v1/namespaces/a/pytorchjobs/j/status", {})
    assert (a.verb, a.group, a.resource, a.subresource, a.name) == (
        "patch",
        "kubeflow.org",
        "pytorchjobs",
        "status",
        "j",
    )


def test_namespaces_exec_and_field_selected_names_follow_kube() -> None:
    ns = attributes("GET", "/api/v1/namespaces/a", {})
    assert (ns.resource, ns.name, ns.namespace) == ("namespaces", "a", "a")
    ex = attributes("GET", "/api/v1/namespaces/a/pods/p/exec", {})
    assert (ex.verb, ex.subresource) == ("create", "exec")
    one = attributes("GET", "/api/v1/namespaces/a/configmaps", {"fieldSelector": "metadata.name=c"})
    assert one.name == "c"
    other = attributes("GET", "/apis", {})
    assert not other.resource_request and other.path == "/apis"
    assert attributes("POST", "/logs", {}).verb == "post"


def test_a_new_binding_takes_effect_at_the_next_request(registry: Registry) -> None:
    seed_rbac(registry)
    authz = Authorizer(registry)
    bob = UserInfo("bob", ("system:authenticated",))
    get = Attributes("get", resource="configmaps", namespace="default", name="c")
    assert authz.authorize(bob, get) == (False, "")
    assert authz.authorize(bob, get) == (False, "")
    rebuilt = authz.rebuilds
    registry.create(
        "rolebindings.rbac.authorization.k8s.io",
        {
            "metadata": {"name": "bob-view", "namespace": "default"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "view",
            },
            "subjects": [{"kind": "User", "name": "bob"}],
        },
    )
    allowed, reason = authz.authorize(bob, get)
    assert allowed and "bob-view" in reason
    assert authz.rebuilds == rebuilt + 1
    registry.delete("rolebindings.rbac.authorization.k8s.io", "bob-view", "default")
    assert authz.authorize(bob, get)[0] is False


def test_system_masters_is_allowed_without_rules(registry: Registry) -> None:
    authz = Authorizer(registry)  # not even the defaults are seeded
    root = UserInfo("root", ("system:masters",))
    assert authz.authorize(root, Attributes("delete", resource="nodes", name="n"))[0]
    assert authz.authorize(root, Attributes("get", resource_request=False, path="/x"))[0]

"""Every add-on object hyp renders for EKS, applied to the local cluster (the closest thing to
EKS here): a real control plane started with its own training operator and Kueue off, so the
add-ons' CRDs are the only ones for kubeflow.org and kueue.x-k8s.io. CRDs go first and must
become Established and served; then every other object goes in with server-side apply through
the same applier ``hyp create`` uses on EKS (workloads with dryRun=All: their pods cannot run
here). Kinds the local server does not serve yet are skipped by discovery, each naming the
missing kind, so they are covered as soon as the server serves them. The admission webhook
configurations go last and are live: the server calls Kueue's webhooks from then on (and,
with no Kueue manager running here, refuses Kueue writes as EKS would before nodes join).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from hyperpod.api.aws_config import AwsClusterConfig
from hyperpod.providers.aws import addons
from support import RunningControlPlane, start_control_plane

EXAMPLES = Path(__file__).parents[2] / "examples" / "aws"
DRY_RUN_KINDS = frozenset({"Deployment", "DaemonSet"})  # their pods pull images EKS has


def _largest_config() -> AwsClusterConfig:
    data = yaml.safe_load((EXAMPLES / "multi-group.yaml").read_text())
    data["helm"] = {
        **(data.get("helm") or {}),
        "kueue": True,
        "mpi_operator": True,
        "neuron_device_plugin": True,
        "observability": True,
    }
    data["fsx"] = {"create": True}
    return AwsClusterConfig.model_validate(data)


def _fsx_filled() -> list[dict[str, Any]]:
    rendered, _ = addons.render(_largest_config(), "us-west-2")
    return addons.fill_fsx(
        rendered,
        {
            "FsxFileSystemId": "fs-0123456789abcdef0",
            "FsxDnsName": "fs.example",
            "FsxMountName": "abcd",
        },
    )


MANIFESTS = _fsx_filled()
IDS = [
    f"{m['kind']}/{m['metadata'].get('namespace', '-')}/{m['metadata']['name']}" for m in MANIFESTS
]


class Applied:
    def __init__(self, cp: RunningControlPlane) -> None:
        kcfg = yaml.safe_load(cp.kubeconfig.read_text())
        self.cluster = addons.Cluster(kcfg, cp.token)
        self.served = self.cluster.served_kinds()
        self.served_before = set(self.served)
        self.results: dict[str, str] = {}
        self.seconds = 0.0


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Applied]:
    cp = start_control_plane(
        tmp_path_factory.mktemp("addons"),
        {"addons": {"trainingOperator": False, "kueue": False}},
    )
    try:
        state = Applied(cp)
        t0 = time.monotonic()
        crds = [m for m in MANIFESTS if m["kind"] == "CustomResourceDefinition"]
        for line in addons.apply_all(state.cluster, crds):
            state.results[line.rsplit(" ", 1)[0]] = line
        state.served = state.cluster.served_kinds()  # the new CRDs' kinds are served now
        for obj in addons.apply_order(MANIFESTS):  # webhook configurations last
            if obj["kind"] == "CustomResourceDefinition":
                continue
            if (obj["apiVersion"], obj["kind"]) not in state.served:
                continue
            dry = obj["kind"] in DRY_RUN_KINDS
            state.cluster.apply(obj, dry_run=dry)
            state.results[f"{obj['kind']}/{obj['metadata']['name']}"] = "applied"
        state.seconds = time.monotonic() - t0
        yield state
    finally:
        cp.stop()


def test_the_built_in_training_operator_and_kueue_are_off_so_no_crd_collides(
    applied: Applied,
) -> None:
    for kind in [("kubeflow.org/v1", "PyTorchJob"), ("kueue.x-k8s.io/v1beta1", "ClusterQueue")]:
        assert kind not in applied.served_before  # the add-ons' CRDs are the only ones
        assert kind in applied.served


@pytest.mark.parametrize("index", range(len(MANIFESTS)), ids=IDS)
def test_the_local_cluster_accepts_the_add_on_object(applied: Applied, index: int) -> None:
    obj = MANIFESTS[index]
    key = (obj["apiVersion"], obj["kind"])
    if key not in applied.served:
        pytest.skip(f"{obj['kind']} ({obj['apiVersion']}) is not served by the local cluster yet")
    name = f"{obj['kind']}/{obj['metadata']['name']}"
    assert name in applied.results, name
    if obj["kind"] in DRY_RUN_KINDS:
        return  # checked by the server with dryRun=All, not stored
    status, stored = applied.cluster.request("GET", addons.api_path(obj))
    assert status == 200, stored
    if obj["kind"] == "CustomResourceDefinition":
        assert applied.cluster.crd_established(obj["metadata"]["name"])
        spec = obj["spec"]
        assert (f"{spec['group']}/{spec['versions'][0]['name']}", spec["names"]["kind"]) in (
            applied.served
        )


def test_a_pytorchjob_is_accepted_once_the_add_on_crds_are_in(applied: Applied) -> None:
    job = {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": {"name": "after-addons", "namespace": "hyperpod-ns-default"},
        "spec": {
            "pytorchReplicaSpecs": {
                "Master": {
                    "replicas": 1,
                    "restartPolicy": "OnFailure",
                    "template": {
                        "spec": {
                            "containers": [
                                {"name": "pytorch", "image": "pytorch/pytorch", "command": ["true"]}
                            ]
                        }
                    },
                }
            }
        },
    }
    applied.cluster.apply(job)
    status, stored = applied.cluster.request("GET", addons.api_path(job))
    assert status == 200 and stored["spec"]["pytorchReplicaSpecs"]["Master"]["replicas"] == 1


def test_task_governance_objects_are_served_by_the_kueue_crds(applied: Applied) -> None:
    status, cq = applied.cluster.request(
        "GET", "/apis/kueue.x-k8s.io/v1beta1/clusterqueues/hyperpod-ns-default-clusterqueue"
    )
    assert status == 200 and cq["spec"]["cohort"] == "hyperpod-shared-cohort"


def test_the_post_create_check_sees_the_hyperpod_training_operator_crd_once_served(
    applied: Applied,
) -> None:
    from hyperpod.providers.aws import addon_manifests

    name = "hyperpodpytorchjobs.sagemaker.amazonaws.com"
    assert not applied.cluster.crd_established(name)  # the EKS add-on installs it, not hyp
    crd = addon_manifests.open_crd(
        "sagemaker.amazonaws.com", "HyperPodPyTorchJob", "hyperpodpytorchjobs", "v1"
    )
    addons.apply_all(applied.cluster, [crd])
    assert applied.cluster.crd_established(name)


def test_the_kueue_webhooks_are_called_once_applied(applied: Applied) -> None:
    # Applied last, the configurations are live: a Kueue write now goes to Kueue's webhook,
    # whose manager cannot run here (on EKS: before the nodes join), so failurePolicy Fail
    # refuses it. The objects applied before them were admitted without it.
    body = {
        "apiVersion": "kueue.x-k8s.io/v1beta1",
        "kind": "ResourceFlavor",
        "metadata": {"name": "after-webhooks"},
        "spec": {},
    }
    status, answer = applied.cluster.request(
        "POST", "/apis/kueue.x-k8s.io/v1beta1/resourceflavors", body
    )
    assert status == 500, answer
    assert 'failed calling webhook "mutating.kueue.x-k8s.io"' in answer["message"]
    assert 'no endpoints available for service "kueue-webhook-service"' in answer["message"]

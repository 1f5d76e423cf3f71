"""job_templates: the flavor and topology edits every job integration makes to a pod template
at admission, and their undoing on suspend."""

from __future__ import annotations

import copy
from typing import Any

from hyperpod.controllers.kueue.job_templates import inject_flavors, restore_template

FLAVORS: dict[str, Any] = {
    "p5": {
        "spec": {
            "nodeLabels": {"node.kubernetes.io/instance-type": "ml.p5.48xlarge"},
            "tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
        }
    },
    "plain": {"spec": {}},
}


def test_admission_adds_the_flavor_labels_tolerations_and_topology_domain() -> None:
    tspec: dict[str, Any] = {"nodeSelector": {"team": "a"}}
    assignment = {
        "flavors": {"cpu": "p5", "nvidia.com/gpu": "p5"},
        "topologyAssignment": {
            "levels": ["topology.k8s.aws/network-node-layer-3"],
            "domains": [{"values": ["nn-3"], "count": 2}],
        },
    }
    assert inject_flavors(tspec, assignment, FLAVORS) is None
    assert tspec["nodeSelector"] == {
        "team": "a",
        "node.kubernetes.io/instance-type": "ml.p5.48xlarge",
        "topology.k8s.aws/network-node-layer-3": "nn-3",
    }
    assert tspec["tolerations"] == FLAVORS["p5"]["spec"]["tolerations"]


def test_a_flavor_without_labels_leaves_no_empty_selector_or_tolerations() -> None:
    tspec: dict[str, Any] = {}
    assert inject_flavors(tspec, {"flavors": {"cpu": "plain"}}, FLAVORS) is None
    assert tspec == {}


def test_a_job_selector_that_contradicts_the_flavor_is_reported_by_key_and_flavor() -> None:
    tspec: dict[str, Any] = {"nodeSelector": {"node.kubernetes.io/instance-type": "ml.g5.xlarge"}}
    conflict = inject_flavors(tspec, {"flavors": {"cpu": "p5"}}, FLAVORS)
    assert conflict == (
        "nodeSelector node.kubernetes.io/instance-type=ml.g5.xlarge conflicts with flavor p5 "
        "(node.kubernetes.io/instance-type=ml.p5.48xlarge)"
    )


def test_suspending_puts_back_the_template_as_it_was_before_admission() -> None:
    original: dict[str, Any] = {"nodeSelector": {"team": "a"}}
    tspec = copy.deepcopy(original)
    inject_flavors(tspec, {"flavors": {"cpu": "p5"}}, FLAVORS)
    restore_template(tspec, original)
    assert tspec == original
    restore_template(tspec, {})
    assert "nodeSelector" not in tspec and "tolerations" not in tspec

"""The AWS provider: HyperPod on EKS through one CloudFormation stack.

Entry point: ``AwsProvider`` (implements ``hyperpod.providers.base.Provider``; also
``list_clusters``, ``stack_resources`` and ``delete(..., retain_failed=)`` for the CLI).

Rooms, one activity each:
  ``checks``     validate: offline (CIDR capacity per node type, overlaps, AZ IDs vs region,
                 names, bucket rule, Kubernetes version) and online (AZs, offerings, Service
                 Quotas with the code to request, reused VPC/subnet/SG/EKS/role/bucket)
  ``ipplan``     IPs per node on EKS, usable IPs per subnet, largest counts, a CIDR that fits
  ``template``   the one CloudFormation template (pure); ``lint`` runs cfn-lint on it
  ``addons``     add-on files in apply order and their server-side apply (CRDs first, waited
                 for); ``addon_manifests`` builds the objects (pure, versions pinned)
  ``regions``    offline table: where HyperPod runs and its instance types per region
  ``deploying``  CreateStack, live events with progress, the bootstrap gate
  ``kubeconfig`` EKS cluster of a HyperPod cluster, access-entry check, kubeconfig merge
  ``token``      EKS tokens; ``python -m hyperpod.providers.aws.token`` is the exec plugin

Add-ons go in through a wait condition, not a Lambda or helm: the stack creates the network,
bucket, role and EKS cluster, then waits; ``hyp create`` (whose identity holds the EKS admin
access entry) uploads the lifecycle script, applies the add-on manifests it wrote under
``run/<timestamp>/addons/`` (namespaces, CRDs, then the rest) and signals the gate; only then is ``AWS::SageMaker::Cluster``
created, so nodes join a cluster that already has its device plugins. If ``hyp create`` is
interrupted, running it again resumes; left alone, the gate times out after an hour and the
stack rolls back, which ``hyp describe``/``hyp delete`` handle. Add-ons whose pods need nodes
(CoreDNS, cert-manager and the HyperPod training operator, ``AWS::EKS::Addon``) come after the
HyperPod cluster; ``hyp create`` then checks that ``hyperpodpytorchjobs.sagemaker.amazonaws.com``
is served.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hyperpod.providers.aws.provider import AwsProvider

__all__ = ["AwsProvider"]


def __getattr__(name: str) -> Any:
    if name == "AwsProvider":  # imported lazily: boto3 is slow to import
        from hyperpod.providers.aws.provider import AwsProvider

        return AwsProvider
    raise AttributeError(name)

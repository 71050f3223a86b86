"""`llmstack verify --via-kubectl [CONTEXT]`: reach a Kubernetes stack's ClusterIP Services through `kubectl
port-forward`.

One `kubectl [--context C] port-forward --address 127.0.0.1 -n NS svc/NAME LOCAL:PORT` per Service the outputs name
(the gateway, each backend, the embeddings; kubectl maps the service port to a pod's targetPort), each on a free local
port. Once every local port accepts, the checks get the same outputs with those URLs on 127.0.0.1; a URL that is not
a cluster Service (an Ingress) is reached directly. The port-forwards are stopped whatever happens, Ctrl-C included.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager

from llmstack.errors import InputError
from llmstack.outputs import StackOutputs
from llmstack.verify.cluster import cluster_services, shell
from llmstack.verify.forward import Forwarder, free_port, stop_all, through, wait_up

OPTION = "--via-kubectl"


@contextmanager
def port_forwards(outputs: StackOutputs, context: str | None, *, timeout: float = 60.0) -> Iterator[StackOutputs]:
    """Forward every cluster Service of `outputs` (through kubeconfig context `context`, default the current one),
    yield the rewritten outputs, and stop every port-forward whatever happens."""
    shown = context or "(current context)"
    services = cluster_services(outputs)
    if not services:
        other = "; these are an AWS stack's outputs: use --via-ssh" if outputs.access.ssh else ""
        raise InputError(OPTION, shown, "the outputs name no cluster Service (http://<service>.<namespace>.svc."
                         f"cluster.local:<port>), so there is nothing to port-forward{other}")
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise InputError(OPTION, shown, "kubectl is not on PATH: install it (kubernetes.io/docs/tasks/tools/) and "
                         "point it at the cluster (EKS: `aws eks update-kubeconfig --name <cluster>`), or run the "
                         f"port-forward commands `llmstack verify` prints without {OPTION}")
    forwards = {key: free_port() for key in services}
    forwarders = [Forwarder(f"`{shell(svc.command(forwards[key], context=context))}`",
                            svc.command(forwards[key], context=context, kubectl=kubectl), {forwards[key]})
                  for key, svc in services.items()]
    chosen = f" --context {context}" if context else ""
    names = {svc.namespace for svc in services.values()}
    namespaces = f"-n {names.pop()}" if len(names) == 1 else "--all-namespaces"
    fix = (f"Check that kubectl reaches the cluster and each Service has a running pod (a backend scaled to zero has "
           f"none): `kubectl{chosen} get svc,pods {namespaces}`")
    try:
        for forwarder in forwarders:
            forwarder.start()
        wait_up(forwarders, timeout=timeout, secret=outputs.master_key.get_secret_value(), fix=fix)
        yield through(outputs, forwards)
    finally:
        stop_all(forwarders)

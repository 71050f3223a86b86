"""The stack plan: spec -> nodes, services (launch recipes, labels), gateway routes and config, monitoring.

Pure (no Pulumi import, no I/O beyond the planner's model lookup). `plan_stack` is called once per deployment; every
target's builder consumes its result.
"""

from llmstack.stackplan.launch import Command, Launch, ModelServing, engine_command
from llmstack.stackplan.litellm_config import GatewayPlan, Route, RouteTarget, plan_gateway, render_config, to_yaml
from llmstack.stackplan.monitoring import EngineTarget, MonitoringPlan, plan_monitoring
from llmstack.stackplan.services import Node, Service, backend_services, embedding_service, size_backend
from llmstack.stackplan.stack import EMBEDDINGS, GATEWAY, StackPlan, plan_stack

__all__ = [
    "EMBEDDINGS",
    "GATEWAY",
    "Command",
    "EngineTarget",
    "GatewayPlan",
    "Launch",
    "ModelServing",
    "MonitoringPlan",
    "Node",
    "Route",
    "RouteTarget",
    "Service",
    "StackPlan",
    "backend_services",
    "embedding_service",
    "engine_command",
    "plan_gateway",
    "plan_monitoring",
    "plan_stack",
    "render_config",
    "size_backend",
    "to_yaml",
]

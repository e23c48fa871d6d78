"""The DynamoDB tables, one per ``TableSpec`` of ``workflows.resources``."""

from __future__ import annotations

from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from workflows.resources import TABLES, Index, TableSpec


class DataConstruct(Construct):
    """Every table of the shared resource description: on-demand, point-in-time recovery, KMS encryption.

    A table whose spec names a ``stream_view_type`` gets that DynamoDB stream (the orders table's feeds the order
    events). Tables keep the CDK default removal policy (RETAIN): deleting the stack never deletes orders or the ledger.

    Example
    -------
    >>> from aws_cdk import App, Stack
    >>> data = DataConstruct(Stack(App(), "Example"), "Data")
    >>> sorted(data.tables)
    ['Idempotency', 'OrderQuotas', 'Orders', 'PaymentsLedger', 'Products']
    """

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.tables: dict[str, dynamodb.Table] = {spec.logical_name: self._build_table(spec) for spec in TABLES}

    def _build_table(self, spec: TableSpec) -> dynamodb.Table:
        table = dynamodb.Table(
            self,
            spec.logical_name,
            partition_key=_string_attribute(spec.partition_key),
            sort_key=_string_attribute(spec.sort_key) if spec.sort_key else None,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            time_to_live_attribute=spec.ttl_attribute,
            stream=dynamodb.StreamViewType(spec.stream_view_type) if spec.stream_view_type else None,
        )
        for index in spec.indexes:
            self._build_index(table, index)
        return table

    @staticmethod
    def _build_index(table: dynamodb.Table, index: Index) -> None:
        """Each index projects what its spec says (``Index.projection``), as ``local/provisioning.py`` creates it."""
        table.add_global_secondary_index(
            index_name=index.name,
            partition_key=_string_attribute(index.partition_key),
            sort_key=_string_attribute(index.sort_key) if index.sort_key else None,
            projection_type=dynamodb.ProjectionType(index.projection_type),
            non_key_attributes=list(index.projection) if index.projection else None,
        )


def _string_attribute(name: str) -> dynamodb.Attribute:
    """Every key of the service is a string (ids, statuses, ISO timestamps), as ``local/provisioning.py`` declares."""
    return dynamodb.Attribute(name=name, type=dynamodb.AttributeType.STRING)

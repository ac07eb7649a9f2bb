"""The domain model, one module per aggregate (DESIGN §2)."""

from biobank.models.catalogue import (
    KitTemplate,
    KitTemplateItem,
    Specimen,
    TemperatureClass,
    TubeType,
)
from biobank.models.collections import (
    Collection,
    CollectionAmendment,
    CollectionStatus,
    LabelBatch,
    LabelKit,
)
from biobank.models.distribution import (
    DistributionItem,
    DistributionProtocol,
    DistributionRequest,
    DistributionShipment,
    DistributionShipmentItem,
    OutboundStatus,
    ProtocolSpecimen,
    ProtocolStatus,
    RequestStatus,
)
from biobank.models.events import CustodyTreeHead, CustodyTreeNode, Event, EventType
from biobank.models.idempotency import IdempotencyKey
from biobank.models.participants import Participant
from biobank.models.printers import (
    PRINTER_DPIS,
    Printer,
    PrinterJob,
    PrintJobKind,
    PrintJobStatus,
)
from biobank.models.samples import Centrifuge, FlagKind, Sample, SampleFlag, SampleStatus
from biobank.models.shipments import (
    ItemOutcome,
    PackageCondition,
    Shipment,
    ShipmentItem,
    ShipmentStatus,
)
from biobank.models.sites import Site, SiteKind
from biobank.models.storage import (
    BoxFill,
    Container,
    ContainerKind,
    StoragePosition,
    position_label,
)
from biobank.models.tallies import DayTally, TallyVersion
from biobank.models.users import (
    ApiToken,
    AuthFailure,
    AuthFailureReason,
    PasswordThrottle,
    Role,
    ThrottlePurpose,
    User,
)

__all__ = [
    "PRINTER_DPIS",
    "ApiToken",
    "AuthFailure",
    "AuthFailureReason",
    "BoxFill",
    "Centrifuge",
    "Collection",
    "CollectionAmendment",
    "CollectionStatus",
    "Container",
    "ContainerKind",
    "CustodyTreeHead",
    "CustodyTreeNode",
    "DayTally",
    "DistributionItem",
    "DistributionProtocol",
    "DistributionRequest",
    "DistributionShipment",
    "DistributionShipmentItem",
    "Event",
    "EventType",
    "FlagKind",
    "IdempotencyKey",
    "ItemOutcome",
    "KitTemplate",
    "KitTemplateItem",
    "LabelBatch",
    "LabelKit",
    "OutboundStatus",
    "PackageCondition",
    "Participant",
    "PasswordThrottle",
    "PrintJobKind",
    "PrintJobStatus",
    "Printer",
    "PrinterJob",
    "ProtocolSpecimen",
    "ProtocolStatus",
    "RequestStatus",
    "Role",
    "Sample",
    "SampleFlag",
    "SampleStatus",
    "Shipment",
    "ShipmentItem",
    "ShipmentStatus",
    "Site",
    "SiteKind",
    "Specimen",
    "StoragePosition",
    "TallyVersion",
    "TemperatureClass",
    "ThrottlePurpose",
    "TubeType",
    "User",
    "position_label",
]

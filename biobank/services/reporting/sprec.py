"""A tube's Standard PREanalytical Code (SPREC), worked out from what this system recorded.

SPREC for fluids is seven codes joined by hyphens, e.g. ``SER-SST-A-X-N-G-Y``: type of
sample - primary container - pre-centrifugation - centrifugation - second centrifugation -
post-centrifugation - long-term storage. ``X`` (``XXX`` for the three-letter elements) says
the fact is unknown; ``Z`` (``ZZZ``) that it is known but no code of the standard fits.

How our records are read, element by element (the interpretation choices):

1. Type of sample: from the tube type's specimen. Plasma is ``PL1`` (single spun): the
   protocol spins a PST once and this system has no second-spin step.
2. Primary container: from the tube family in the tube code ([ordinal or centrifuge] +
   family + [volume], NOTES.md), so ``1ED04`` and ``2ED10`` are both ``ED`` (EDTA, lavender:
   potassium EDTA ``PED``). Urine tubes and cups are ``XXX``: the catalogue does not say what
   plastic they are, and SPREC has no urine-specific container code. ``1PXR2`` (PAXgene Blood
   RNA) is ``PAX``; SPREC's ``PXR`` is PAXgene *bone marrow* RNA.
3. Pre-centrifugation, "delay between collection and processing", with the temperature the
   tube waited at:
   - tubes that are spun (SST, PST): ``collected_at`` → ``processed_at``, at room temperature
     (they wait on the clinic's bench until spun; no temperature is recorded);
   - tubes that are never spun (whole blood, urine, saliva): SPREC still codes a delay here
     (the element has no "not applicable" code: ``N`` means 2-10 °C for more than 48 h), the
     delay to their processing, which for an unspun fluid is its freezing: ``collected_at``
     → first frozen, at the tube type's shipping temperature (HP ships every tube
     refrigerated, by far the longest part of the wait; the minutes on the bench before
     packing are not recorded).
4. Centrifugation: ``N`` (no centrifugation) for tubes that are never spun. ``X`` for spun
   tubes: SPREC codes temperature, g-force, duration and braking, and we record only the rotor
   (swinging bucket / fixed angle), which no code tells apart.
5. Second centrifugation: always ``N``: the protocol spins once and no step here records a
   second spin.
6. Post-centrifugation, centrifugation to freezing: ``processed_at`` → first frozen, at the
   shipping temperature (spun tubes travel to the biobank refrigerated and are frozen when
   stored). ``N`` (not applicable) for tubes that are never spun. ``X`` while the tube is not
   frozen yet, or when the spin time is unknown. ``received_at`` is not used: a received tube
   waits in the fridge until stored, so arrival only bounds the freezing from below.
7. Long-term storage, container and temperature together: from the set temperature of the
   freezer the tube is in now (its position's box, up to the freezer). A primary tube stored
   as drawn is the "original primary container" (``Y``); an aliquot is taken to be in a
   0.5-2 mL polypropylene tube (the biobank's 2D-barcoded rack tubes) (``A``/``B``/``V``).
   ``X`` when the tube is in no box (not yet stored, or consumed, disposed of) or its freezer
   has no set temperature; ``Z`` when the temperature is in none of SPREC's ranges.

"First frozen" is when the material first went into a freezer: the tube's ``stored_at`` (set
once, at its first storage; moves keep it). An aliquot carries its parent's pre-analytics
(tube type, collected and processed times are copied onto it) with its own storage; if the
parent had been frozen before the aliquot was made (``received_at`` of an aliquot is its
making, at the bench), the aliquot's material was first frozen then.

A delay exactly on a band's edge falls in the longer band, as SPREC writes the first band
"< 2 h" (so exactly 2 h is "2-4 h").

Pure rules on a loaded sample: attribute access only. The caller loads position → box (the
list, export and page queries do); walking a box up to its freezer and an aliquot up to its
ancestors go through relationships that a page of tubes mostly shares.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from biobank.models import Sample, Specimen, TemperatureClass
from biobank.services.storage.storage_paths import container_path

# --- the code tables ------------------------------------------------------------------------
# SPREC v3.0 for fluids: Betsou F et al., "Standard PREanalytical Code Version 3.0",
# Biopreservation and Biobanking 16(1):9-12, 2018, building on SPREC v2.0 (Lehmann S et al.,
# Biopreservation and Biobanking 10(4):366-374, 2012). Only the rows this system can produce
# are listed; the standard has many more (e.g. centrifugation A-M by temperature, g-force,
# duration and braking; storage in straws, cryotubes, microplates, liquid nitrogen).

UNKNOWN = "X"
OTHER = "Z"
NOT_APPLICABLE = "N"  # element 4 "no centrifugation", 5 "no second centrifugation", 6 "n/a"

# Element 1, type of sample.
SAMPLE_TYPES = {
    "BLD": "blood (whole)",
    "SER": "serum",
    "PL1": "plasma, single spun",
    "URN": "urine, random (spot)",
    "SAL": "saliva",
    "ZZZ": "other",
}
SAMPLE_TYPE_BY_SPECIMEN = {
    Specimen.WHOLE_BLOOD: "BLD",
    Specimen.SERUM: "SER",
    Specimen.PLASMA: "PL1",
    Specimen.URINE: "URN",
    Specimen.SALIVA: "SAL",
    # Buffy coat (viable BUF or not BFF: not recorded) and extracted DNA / RNA (coded by
    # SPREC's separate scheme for complex derivatives) have no single fluid code.
    Specimen.BUFFY_COAT: "ZZZ",
    Specimen.DNA: "ZZZ",
    Specimen.RNA: "ZZZ",
}

# Element 2, type of primary container.
PRIMARY_CONTAINERS = {
    "SST": "serum separator tube with clot activator",
    "LHG": "lithium heparin and gel",
    "SHP": "sodium heparin",
    "PED": "potassium EDTA",
    "SCK": "non-aldehyde-based stabilizer for cell-free nucleic acids",
    "PAX": "PAXgene Blood RNA",
    "ORG": "Oragene collection container or equivalent",
    "XXX": "unknown",
}
# Keyed by the tube family of the tube code (see ``tube_family``).
PRIMARY_CONTAINER_BY_TUBE_FAMILY = {
    "SST": "SST",  # 1SST8 / 2SST8: clot activator + gel
    "PST": "LHG",  # 1PST8 / 2PST8: lithium heparin + gel
    "HEP": "SHP",  # 1HEP4: sodium heparin (SPREC's HEP is *lithium* heparin)
    "ED": "PED",  # 1ED02, 1ED04, 1ED10, 2ED10: K2EDTA lavender tubes
    "CFD": "SCK",  # 1CFD9: cell-free DNA tube, formaldehyde-free stabilizer
    "PXR": "PAX",  # 1PXR2: PAXgene Blood RNA
    "SAL": "ORG",  # 1SAL2: saliva kit with DNA stabilizer
    "UR": "XXX",  # 1UR10, 1UR90: tube / cup material not recorded
}

# Element 3, pre-centrifugation: (delay below this many hours, code), by temperature
# (AMBIENT is SPREC's "RT", REFRIGERATED its "2-10 °C"). SPREC also has O (35-38 °C, < 2 h).
PRE_CENTRIFUGATION_DELAYS: dict[TemperatureClass, tuple[tuple[float | None, str], ...]] = {
    TemperatureClass.AMBIENT: (
        (2, "A"),
        (4, "C"),
        (8, "E"),
        (12, "G"),
        (24, "I"),
        (48, "K"),
        (None, "M"),
    ),
    TemperatureClass.REFRIGERATED: (
        (2, "B"),
        (4, "D"),
        (8, "F"),
        (12, "H"),
        (24, "J"),
        (48, "L"),
        (None, "N"),
    ),
}

# Element 6, post-centrifugation: in v3.0 the 2-10 °C code comes first in each pair.
POST_CENTRIFUGATION_DELAYS: dict[TemperatureClass, tuple[tuple[float | None, str], ...]] = {
    TemperatureClass.REFRIGERATED: ((1, "A"), (2, "C"), (8, "E"), (24, "G"), (None, "I")),
    TemperatureClass.AMBIENT: ((1, "B"), (2, "D"), (8, "F"), (24, "H"), (None, "J")),
}


# Element 7, long-term storage: the storage temperature ranges (°C, both ends included) ...
class StorageRange(StrEnum):
    MINUS_85_TO_MINUS_60 = "-85 to -60 °C"
    MINUS_35_TO_MINUS_18 = "-35 to -18 °C"
    BELOW_MINUS_135 = "below -135 °C"


STORAGE_RANGES: tuple[tuple[StorageRange, Decimal | None, Decimal], ...] = (
    (StorageRange.MINUS_85_TO_MINUS_60, Decimal(-85), Decimal(-60)),
    (StorageRange.MINUS_35_TO_MINUS_18, Decimal(-35), Decimal(-18)),
    (StorageRange.BELOW_MINUS_135, None, Decimal(-135)),  # strictly below
)


# ... the kind of tube the material is stored in ...
class StorageTube(StrEnum):
    ORIGINAL_PRIMARY_CONTAINER = "original primary container"
    PP_TUBE_0_5_TO_2_ML = "PP tube 0.5-2 mL"


# ... and the codes. Y covers -85 to -18 °C for the original primary container.
LONG_TERM_STORAGE = {
    (StorageTube.PP_TUBE_0_5_TO_2_ML, StorageRange.MINUS_85_TO_MINUS_60): "A",
    (StorageTube.PP_TUBE_0_5_TO_2_ML, StorageRange.MINUS_35_TO_MINUS_18): "B",
    (StorageTube.PP_TUBE_0_5_TO_2_ML, StorageRange.BELOW_MINUS_135): "V",
    (StorageTube.ORIGINAL_PRIMARY_CONTAINER, StorageRange.MINUS_85_TO_MINUS_60): "Y",
    (StorageTube.ORIGINAL_PRIMARY_CONTAINER, StorageRange.MINUS_35_TO_MINUS_18): "Y",
}

ELEMENT_NAMES = (
    "type of sample",
    "primary container",
    "pre-centrifugation",
    "centrifugation",
    "second centrifugation",
    "post-centrifugation",
    "long-term storage",
)
TEMPERATURE_WORDS = {
    TemperatureClass.AMBIENT: "room temperature",
    TemperatureClass.REFRIGERATED: "2-10 °C",
}
TUBE_FAMILY = re.compile(r"\d?([A-Z]+)\d*")


# --- the code ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SprecElement:
    name: str
    code: str
    meaning: str


@dataclass(frozen=True)
class Sprec:
    elements: tuple[SprecElement, ...]

    @property
    def code(self) -> str:
        return "-".join(element.code for element in self.elements)

    @property
    def explanation(self) -> str:
        """One line per element, e.g. "pre-centrifugation A: room temperature, under 2 h"."""
        return "\n".join(f"{e.name} {e.code}: {e.meaning}" for e in self.elements)


def sprec(sample: Sample) -> str:
    """The seven-element SPREC of a tube, e.g. ``SER-SST-A-X-N-G-Y``."""
    return describe(sample).code


def describe(sample: Sample) -> Sprec:
    """The SPREC with what each element's code means, for people reading it."""
    centrifuged = is_centrifuged(sample)
    sample_type = sample_type_code(sample)
    container = primary_container_code(sample)
    pre, pre_meaning = pre_centrifugation_code(sample)
    post, post_meaning = post_centrifugation_code(sample)
    storage, storage_meaning = long_term_storage_code(sample)
    if centrifuged is False:
        spin, spin_meaning = NOT_APPLICABLE, "no centrifugation"
    elif centrifuged is None:
        spin, spin_meaning = UNKNOWN, "unknown (no centrifugation recorded)"
    else:
        spin, spin_meaning = UNKNOWN, "speed, temperature, duration and braking not recorded"
    codes = (
        (sample_type, SAMPLE_TYPES[sample_type]),
        (container, PRIMARY_CONTAINERS[container]),
        (pre, pre_meaning),
        (spin, spin_meaning),
        (NOT_APPLICABLE, "no second centrifugation"),
        (post, post_meaning),
        (storage, storage_meaning),
    )
    return Sprec(
        tuple(
            SprecElement(name, code, meaning)
            for name, (code, meaning) in zip(ELEMENT_NAMES, codes, strict=True)
        )
    )


# --- element by element ----------------------------------------------------------------------


def tube_family(code: str) -> str:
    """``1SST8`` → ``SST``, ``2ED10`` → ``ED``, ``1UR90`` → ``UR``: the tube code without its
    ordinal (or centrifuge digit) and volume."""
    match = TUBE_FAMILY.fullmatch(code)
    return match.group(1) if match else code


def sample_type_code(sample: Sample) -> str:
    return SAMPLE_TYPE_BY_SPECIMEN.get(Specimen(sample.tube_type.specimen), "ZZZ")


def primary_container_code(sample: Sample) -> str:
    return PRIMARY_CONTAINER_BY_TUBE_FAMILY.get(tube_family(sample.tube_type.code), "XXX")


def is_centrifuged(sample: Sample) -> bool | None:
    """False for tubes the protocol never spins; True once a spin is recorded; None when the
    tube should be spun but no spin time is on record."""
    if not sample.tube_type.requires_processing:
        return False
    return True if sample.processed_at is not None else None


def first_frozen_at(sample: Sample) -> datetime | None:
    """When the tube's material first went into a freezer: its own first storage, or, for an
    aliquot made from a tube frozen before, that tube's (and so on up the aliquot tree)."""
    if sample.parent is not None and sample.received_at is not None:
        inherited = first_frozen_at(sample.parent)
        if inherited is not None and inherited <= sample.received_at:
            return inherited
    return sample.stored_at


def pre_centrifugation_code(sample: Sample) -> tuple[str, str]:
    if is_centrifuged(sample) is False:
        # Never spun: the delay to processing is the delay to freezing, at shipping temperature.
        return delay_code(
            PRE_CENTRIFUGATION_DELAYS,
            sample.collected_at,
            first_frozen_at(sample),
            TemperatureClass(sample.tube_type.ship_temperature),
        )
    # Spun at the clinic, where tubes wait on the bench.
    return delay_code(
        PRE_CENTRIFUGATION_DELAYS,
        sample.collected_at,
        sample.processed_at,
        TemperatureClass.AMBIENT,
    )


def post_centrifugation_code(sample: Sample) -> tuple[str, str]:
    centrifuged = is_centrifuged(sample)
    if centrifuged is False:
        return NOT_APPLICABLE, "not applicable (not centrifuged)"
    if centrifuged is None:
        return UNKNOWN, "unknown (no centrifugation time recorded)"
    return delay_code(
        POST_CENTRIFUGATION_DELAYS,
        sample.processed_at,
        first_frozen_at(sample),
        TemperatureClass(sample.tube_type.ship_temperature),
    )


def delay_code(
    table: dict[TemperatureClass, tuple[tuple[float | None, str], ...]],
    started: datetime | None,
    ended: datetime | None,
    temperature: TemperatureClass,
) -> tuple[str, str]:
    """The band of ``table`` the delay from ``started`` to ``ended`` falls in, at
    ``temperature``; ``X`` when a time is missing, the times disagree, or the table has no
    codes for that temperature (a tube shipped frozen was frozen at an unrecorded time)."""
    bands = table.get(temperature)
    if started is None or ended is None:
        return UNKNOWN, "unknown (not frozen yet, or a time not recorded)"
    if bands is None or ended < started:
        return UNKNOWN, "unknown"
    hours = (ended - started).total_seconds() / 3600
    code, lower, upper = band_of(hours, bands)
    if upper is None:
        span = f"over {lower:g} h"
    elif lower == 0:
        span = f"under {upper:g} h"
    else:
        span = f"{lower:g}-{upper:g} h"
    return code, f"{TEMPERATURE_WORDS[temperature]}, {span}"


def band_of(
    hours: float, bands: Sequence[tuple[float | None, str]]
) -> tuple[str, float, float | None]:
    """(code, lower edge, upper edge) of the band holding ``hours``; the lower edge belongs
    to the band."""
    lower: float = 0
    for upper, code in bands:
        if upper is None or hours < upper:
            return code, lower, upper
        lower = upper
    raise ValueError("a delay table ends with an open band")


def storage_range(temperature_c: Decimal) -> StorageRange | None:
    for name, lowest, highest in STORAGE_RANGES:
        if lowest is None:
            if temperature_c < highest:
                return name
        elif lowest <= temperature_c <= highest:
            return name
    return None


def long_term_storage_code(sample: Sample) -> tuple[str, str]:
    position = sample.position
    if position is None:
        return UNKNOWN, "unknown (not in a freezer now)"
    freezer = container_path(position.box)[0]
    if freezer.temperature_c is None:
        return UNKNOWN, f"unknown ({freezer.name} has no set temperature)"
    tube = (
        StorageTube.PP_TUBE_0_5_TO_2_ML
        if sample.parent is not None
        else StorageTube.ORIGINAL_PRIMARY_CONTAINER
    )
    temperature = storage_range(Decimal(freezer.temperature_c))
    code = LONG_TERM_STORAGE.get((tube, temperature)) if temperature else None
    where = f"{tube}, {freezer.name} at {float(freezer.temperature_c):g} °C"
    if code is None:
        return OTHER, f"other ({where})"
    return code, f"{tube}, {temperature}"

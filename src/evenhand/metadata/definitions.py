"""The definitions of the facts derived once (out.event_flags): their parameters and the
plain-English text the data dictionary, the audits' method and a school's report all show.

Declared here, beside the table metadata, so the derivation (evenhand.derive.facts) and every
text that states the rule read one place.
"""

from __future__ import annotations

#: The key judgements of the education itself under the EIF: each must be good or better.
EDUCATION_JUDGEMENTS: tuple[str, ...] = ("quality_of_education", "behaviour_and_attitudes", "personal_development")
#: Four-point codes that are good or better.
GOOD_OR_BETTER: tuple[str, ...] = ("1", "2")
#: A count of working days from the START of an inspection (no end date in the file) is
#: reduced by this much before it is compared with a target that runs from the end: a school
#: inspection lasts at most two days, so the flag holds whatever the end date was.
START_COUNT_ALLOWANCE = 1
#: A cliff edge is a fall of at least this many steps on one scale.
CLIFF_EDGE_STEPS = 2

SAFEGUARDING_LIMITED = (
    "A graded inspection is safeguarding-limited when ALL of: (a) safeguarding was not effective "
    "('Safeguarding is effective?' = No); (b) overall effectiveness OR leadership and management "
    "was Inadequate (four-point code 4; leadership counts because graded inspections from "
    "September 2024 have no overall grade); (c) quality of education, behaviour and attitudes and "
    "personal development were EACH Good or Outstanding (codes 1-2): the school was judged good in "
    "its education and failed on safeguarding (the public claim that safeguarding gaps are used to fail a school that is otherwise good). An inspection without all three "
    "education judgements (before September 2019) cannot be classified and is not "
    "safeguarding-limited. Report cards (from November 2025) have no overall or leadership grade: "
    "their safeguarding standards 'Not met' is counted as a fact of its own, never as "
    "safeguarding-limited."
)
CLIFF_EDGE = (
    f"A cliff edge is a fall of {CLIFF_EDGE_STEPS} or more steps in overall effectiveness from the "
    "previous graded inspection of the same lineage (out.transitions: academy conversions "
    "chained), where the two are comparable on the same scale (e.g. good to inadequate, "
    "outstanding to requires improvement or inadequate); never across scales or where a code "
    "changed meaning (Satisfactory is not Requires improvement)."
)
LATE_PUBLICATION = (
    "The target is Ofsted's published target for reports of the inspection's framework and kind "
    "(as Evenhand records the handbooks), the longer 'further quality assurance' target where the "
    "inspection judged the school inadequate overall or placed it in a category of concern and the "
    "framework has one; none where no target is recorded (before 2015, report cards). Beyond the target: the working days from "
    "the end of the inspection to publication exceed it; where the file gives no end date, the "
    f"working days from the start less {START_COUNT_ALLOWANCE} (a school inspection lasts at most two "
    "days), so the flag holds whatever the end date was. A second flag counts every working day from "
    "the start (an upper bound where no end date is known)."
)


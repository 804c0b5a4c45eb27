"""Seed the active dosing rules with the label values (domain.md §2.2-2.6, §3.6, §6.9)."""

from decimal import Decimal as D

from django.db import migrations

NAME = "Intrathecal baclofen: label limits"
SOURCES = (
    "Titration per 24 h: spinal adults +10-30 %, cerebral adults and children +5-15 % (§2.3). "
    "At refill: spinal ≤ +40 %, cerebral ≤ +20 % (§2.4 ⚠️). Decrease for side effects 10-20 % "
    "(§2.4). Usual maintenance: spinal 300-800, cerebral 90-703, children < 12 y 24-1199 "
    "mcg/day (§2.4 ⚠️). No increase in the first 24 h after implant (§2.3). Screening 50 "
    "mcg/mL, at most 100 mcg, 24 h apart; starting dose 2 × screening dose, 1 × when the effect "
    "lasted more than 8 h (§2.2-2.3). Reconciliation ±14.5 % delivered, residual 1 mL (≤ 20 mL "
    "reservoir) / 2 mL (§3.6, derived default ❓). Stability limit 180 days (§2.6). "
    "App policy for a clinician to confirm (❓): the pediatric refill limit (the label gives "
    "none; cerebral 5-20 % is used) and the hard stop at ×2 / ×0.5 of the current dose (§8)."
)
POPULATIONS = {
    # population: titration %, refill %, side-effect decrease %, usual range mcg/day
    "spinal_adult": ((10, 30), (10, 40), (10, 20), (300, 800)),
    "cerebral_adult": ((5, 15), (5, 20), (10, 20), (90, 703)),
    "pediatric": ((5, 15), (5, 20), (10, 20), (24, 1199)),
}


def seed(apps, schema_editor):
    DosingRules = apps.get_model("dosing", "DosingRules")
    PopulationDoseLimits = apps.get_model("dosing", "PopulationDoseLimits")
    if DosingRules.objects.filter(is_active=True).exists():
        return
    rules = DosingRules.objects.create(name=NAME, is_active=True, source_notes=SOURCES)
    for population, (titration, refill, decrease, usual) in POPULATIONS.items():
        PopulationDoseLimits.objects.create(
            rules=rules,
            population=population,
            titration_increase_min_percent=D(titration[0]),
            titration_increase_max_percent=D(titration[1]),
            refill_increase_min_percent=D(refill[0]),
            refill_increase_max_percent=D(refill[1]),
            side_effect_decrease_min_percent=D(decrease[0]),
            side_effect_decrease_max_percent=D(decrease[1]),
            usual_min_daily_dose_mcg=D(usual[0]),
            usual_max_daily_dose_mcg=D(usual[1]),
        )


def unseed(apps, schema_editor):
    apps.get_model("dosing", "DosingRules").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("dosing", "0003_dosing_rules")]
    operations = [migrations.RunPython(seed, unseed)]

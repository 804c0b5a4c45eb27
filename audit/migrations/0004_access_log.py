"""The patient access log, append-only from its first moment: the table and, on PostgreSQL,
the trigger that refuses UPDATE and DELETE on it are created in the same migration (as
migration 0002 does for the audit trail; SQLite relies on the model's guard). TRUNCATE stays
possible for the database owner, as for the audit trail: the test suite empties every table
with it between browser tests."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

CREATE_TRIGGER = """
CREATE OR REPLACE FUNCTION access_log_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION USING
        MESSAGE = 'audit_accesslogentry is append-only: ' || TG_OP || ' refused',
        ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER access_log_append_only
    BEFORE UPDATE OR DELETE ON audit_accesslogentry
    FOR EACH ROW EXECUTE FUNCTION access_log_append_only();
"""

DROP_TRIGGER = """
DROP TRIGGER IF EXISTS access_log_append_only ON audit_accesslogentry;
DROP FUNCTION IF EXISTS access_log_append_only();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE_TRIGGER)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_TRIGGER)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_apitoken"),
        ("audit", "0003_auditentry_via"),
        ("pumps", "0007_sweep_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="AccessLogEntry",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("occurred_at", models.DateTimeField()),
                (
                    "what",
                    models.CharField(
                        help_text='What was read, e.g. "patient page" or "API pump list".',
                        max_length=60,
                    ),
                ),
                (
                    "channel",
                    models.CharField(
                        choices=[
                            ("page", "Page"),
                            ("api", "API"),
                            ("feed", "Calendar feed"),
                            ("admin", "Admin"),
                        ],
                        max_length=10,
                    ),
                ),
                ("request_id", models.CharField(blank=True, max_length=64)),
                ("client_address", models.GenericIPAddressField(blank=True, null=True)),
                ("method", models.CharField(max_length=10)),
                (
                    "path",
                    models.CharField(
                        help_text="Without the query string; feed secrets are redacted.",
                        max_length=300,
                    ),
                ),
                (
                    "actor",
                    models.ForeignKey(
                        blank=True,
                        db_index=False,
                        help_text="Who read the record (a calendar feed's owner for a feed).",
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="patient_reads",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "api_token",
                    models.ForeignKey(
                        blank=True,
                        db_index=False,
                        help_text="The API token the read came with, if any.",
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="accounts.apitoken",
                    ),
                ),
                (
                    "patient",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="access_log",
                        to="pumps.patient",
                    ),
                ),
            ],
            options={
                "verbose_name": "access log entry",
                "verbose_name_plural": "access log",
                "ordering": ["-occurred_at", "-id"],
                "indexes": [
                    models.Index(fields=["patient", "-occurred_at"], name="access_patient_idx"),
                    models.Index(fields=["actor", "-occurred_at"], name="access_actor_idx"),
                    models.Index(
                        condition=models.Q(("api_token__isnull", False)),
                        fields=["api_token", "-occurred_at"],
                        name="access_token_idx",
                    ),
                ],
            },
        ),
        migrations.RunPython(forwards, backwards),
    ]

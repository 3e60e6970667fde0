"""The docs' configuration table is the one tools/settings_table.py generates from the schema
(device/settings.py). DOCS: the files holding it."""
import settings_table
from conftest import ROOT

DOCS = (ROOT / "docs" / "device-app.md",)


def test_the_configuration_table_agrees_with_the_schema():
    for doc in DOCS:
        got = settings_table.section(doc.read_text())
        assert got is not None, "%s lacks the settings table markers" % doc
        assert got == settings_table.table(), (
            "%s: the configuration table differs from device/settings.py; run "
            "`python tools/settings_table.py --write %s`" % (doc, doc.relative_to(ROOT)))


def test_a_changed_schema_is_noticed(tmp_path, monkeypatch):
    doc = tmp_path / "doc.md"
    doc.write_text("text\n%s\nold\n%s\nmore\n" % (settings_table.BEGIN, settings_table.END))
    settings_table.write(doc)
    assert settings_table.section(doc.read_text()) == settings_table.table()
    assert doc.read_text().startswith("text\n") and doc.read_text().endswith("\nmore\n")
    s = settings_table.settings()
    monkeypatch.setattr(s, "SECRETS", s.SECRETS + (("pin_code", "str", None, "a PIN"),))
    assert "`pin_code`" in settings_table.table()
    assert settings_table.section(doc.read_text()) != settings_table.table()

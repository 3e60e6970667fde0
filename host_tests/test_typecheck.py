"""The app modules (manifest.py lists them; they use ESP32 APIs) type-check against
micropython-esp32-stubs."""
import typecheck


def test_app_modules_typecheck_against_esp32_stubs():
    assert typecheck.main() == 0


def test_typecheck_catches_a_wrong_esp32_call(tmp_path):
    bad = tmp_path / "board.py"
    bad.write_text("import machine\nimport network\n\n\ndef f():\n"
                   "    machine.WDT(timeout='5s')\n"
                   "    network.WLAN(network.STA_IF).connectt('x')\n")
    assert typecheck.main([bad]) != 0

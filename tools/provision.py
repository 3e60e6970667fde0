"""Provision a device on a generic identity service (docs/provisioning.md): create its
machine-to-machine client through the admin endpoint and write secrets.json; optionally check
it and deploy.

    python tools/provision.py --admin-url http://<ADMIN_ENDPOINT> --client-id sensor-17 \\
        --audience https://localhost:5001/ --scope read:secrets [--config config.json] \\
        [--check] [--deploy /dev/ttyUSB0]

The secret is shown once by the service and kept only in the secrets.json written here (mode
0600; other keys such as wifi_password are kept). It is never printed: not on success, not in
an error. --check asks the token endpoint (base_url from --config, default ./config.json,
which must be a generic or custom configuration) for a token with it, and names both.
"""
import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVICE_PROFILES = ("generic", "custom")  # configurations that can name this service


class ProvisionError(Exception):
    pass


def create_client(admin_url, client_id, scope, audience, timeout=15):
    """POST <admin>/client as in seed 003; returns (client_id, client_secret)."""
    body = {"client_id": client_id, "grant_types": ["client_credentials"],
            "response_types": ["token"], "scope": scope, "client_type": "machine_to_machine"}
    if audience:
        body["audience"] = list(audience)
    req = urllib.request.Request(admin_url.rstrip("/") + "/client", json.dumps(body).encode(),
                                 {"Content-Type": "application/json",
                                  "Accept": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            answer = json.loads(r.read(65536))
    except urllib.error.HTTPError as e:
        try:
            err = json.loads(e.read(4096)).get("error", "")
        except ValueError:
            err = ""
        if e.code == 409:
            raise ProvisionError("client %s already exists on the service, and its secret is "
                                 "shown only once: delete it there or choose another "
                                 "--client-id" % client_id)
        raise ProvisionError("admin endpoint answered %d %s" % (e.code, err))
    except (urllib.error.URLError, OSError) as e:
        raise ProvisionError("admin endpoint unreachable: %s" % getattr(e, "reason", e))
    except ValueError:
        raise ProvisionError("admin endpoint answered something that is not JSON")
    secret = answer.get("client_secret") if isinstance(answer, dict) else None
    if not isinstance(secret, str) or not secret:
        raise ProvisionError("the answer holds no client_secret")
    return answer.get("client_id") or client_id, secret


def write_secrets(path, client_id, secret):
    """Write (merge into) secrets.json with mode 0600, atomically: temp file, then rename."""
    path = Path(path)
    data = {}
    if path.exists():
        try:
            data = json.loads(path.read_text())
        except ValueError:
            raise ProvisionError("%s exists and is not JSON: not overwritten" % path)
    data.update(client_id=client_id, client_secret=secret)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(data, indent=2) + "\n")
    os.chmod(tmp, 0o600)  # an existing tmp keeps its old mode through os.open
    os.replace(tmp, path)


def device_config(path, config):
    """For --check and --deploy: ProvisionError, before the client is created (its secret is
    shown once), unless config.json (read_config's answer) is there and for the service the
    client is created on."""
    if config is None:
        raise ProvisionError("--check and --deploy use the device's configuration, and %s is "
                             "not there: give --config" % path)
    if config["profile"] not in SERVICE_PROFILES:
        raise ProvisionError("%s is a %s configuration, and clients made here are for the "
                             "generic identity service: give --config the device's generic "
                             "(or custom) configuration" % (path, config["profile"]))


def check(config_path, secrets_path):
    """A token with the new credentials, through the library itself (on CPython); the answer
    names the configuration and token endpoint it used."""
    from toolchain import settings

    s = settings()  # device/ on the path, for app too
    import app

    config = s.load(str(config_path))
    client = app.make_client(config, s.load(str(secrets_path), "secrets.json"))
    used = "%s, token endpoint %s" % (config_path, client.token_url)
    try:
        t = client.token()
    except Exception as e:  # OAuthError and OSError texts hold no secret
        raise ProvisionError("--check (%s): %s: %s" % (used, type(e).__name__, e))
    return "token ok (%s): scope=%s lifetime=%ss" % (used, t.scope, t.expires_in)


def read_config(config_path, secrets_path):
    """config.json as the app reads it (None when there is none), once both files passed the
    schema: a mistake is refused before the client is created, as its secret is shown once."""
    from toolchain import settings

    s = settings()
    try:
        if Path(secrets_path).is_file():
            s.load(str(secrets_path), "secrets.json")
        return s.load(str(config_path)) if Path(config_path).is_file() else None
    except s.ConfigError as e:
        raise ProvisionError(str(e))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--admin-url", required=True, help="the identity service's admin endpoint")
    ap.add_argument("--client-id", required=True)
    ap.add_argument("--scope", default="read:secrets")
    ap.add_argument("--audience", action="append", default=[],
                    help="repeatable; default: the config's audience")
    ap.add_argument("--secrets", default="secrets.json", help="written with mode 0600")
    ap.add_argument("--config", default="config.json", help="for --check and --deploy")
    ap.add_argument("--check", action="store_true", help="get a token with the new client")
    ap.add_argument("--deploy", metavar="PORT", help="then deploy to the board on PORT")
    args = ap.parse_args(argv)
    audience = args.audience
    try:
        cfg = read_config(args.config, args.secrets)
        if args.check or args.deploy:
            device_config(args.config, cfg)
        if not audience and cfg and cfg["audience"]:
            audience = [cfg["audience"]]
        cid, secret = create_client(args.admin_url, args.client_id, args.scope, audience)
        write_secrets(args.secrets, cid, secret)
        secret = None
        print("client %s created; its secret is in %s (mode 0600) and nowhere else"
              % (cid, args.secrets))
        if args.check:
            print(check(args.config, args.secrets))
        if args.deploy:
            import deploy

            deploy.deploy(args.deploy, args.config, args.secrets)
    except ProvisionError as e:
        print("provision: %s" % e, file=sys.stderr)
        return 1
    except Exception as e:  # a failed check or deploy: say what, never the secret
        print("provision: %s: %s" % (type(e).__name__, e), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "tools"))
    sys.exit(main())

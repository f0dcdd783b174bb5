"""Commit, validate and jobs as PAN-OS prints them, through the real shell and daemon:
success and failure, consecutive job ids, ``show jobs id N`` with warnings and details."""

from __future__ import annotations

from tests.helpers.daemon import Daemon

HEAD = ("Enqueued              Dequeued           ID  PositionInQ                              "
        "Type                         Status Result Completed")
PROGRESS = "...........98%..............100%"


def banner(job: int) -> str:
    return f"Commit job {job} is in progress. Use Ctrl+C to return to command prompt"


def test_commit_ok_fail_validate_and_jobs(vpnshd: Daemon) -> None:
    # 1: a good commit, with a warning (the port has no device on this host)
    r = vpnshd.shell("-c", "configure",
                     "-c", "set network interface ethernet ethernet1/7 layer3 ip 192.0.2.7/24",
                     "-c", "commit")
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    start = out.index(banner(1))
    assert out[start + 1] == PROGRESS
    assert out[start + 2].startswith("Warning: interface ethernet1/7 is not bound to a device")
    assert out[start + 3] == "Configuration committed successfully"
    # 2: a failing commit prints its job, the progress, the reasons and "Commit failed"
    r = vpnshd.shell("--keep-candidate", "-c", "configure",
                     "-c", "set zone z network layer3 ethernet1/9", "-c", "commit")
    assert r.returncode == 1
    err = r.stderr.splitlines()
    assert err == ["line 3: " + banner(2), PROGRESS, "Validation Error:",
                   " zone -> z -> network -> layer3 'ethernet1/9' is not a valid reference",
                   "Commit failed"]
    # 3: a failing validate full prints its job
    r = vpnshd.shell("-c", "configure", "-c", "validate full")
    assert r.returncode == 1
    assert r.stderr.splitlines()[:2] == ["line 2: Validate job enqueued with jobid 3",
                                         "Validation Error:"]
    # 4: fixed, committed: ids 1-4 with no gap
    r = vpnshd.shell("-c", "configure", "-c", "delete zone z",
                     "-c", "set network interface tunnel units tunnel.1 comment ok", "-c", "commit")
    assert r.returncode == 0, r.stderr
    assert banner(4) in r.stdout.splitlines()
    jobs = vpnshd.shell("-c", "show jobs all").stdout.splitlines()
    assert jobs[0] == HEAD and jobs[1] == "-" * 138
    rows = [line.split() for line in jobs[2:]]
    assert [(r[3], r[4], r[5], r[6]) for r in rows] == [
        ("4", "Commit", "FIN", "OK"), ("3", "Validate", "FIN", "FAIL"),
        ("2", "Commit", "FIN", "FAIL"), ("1", "Commit", "FIN", "OK")]
    assert all(len(line) == 137 and line[129:] == line.split()[-1] for line in jobs[2:])
    detail = vpnshd.shell("-c", "show jobs id 1").stdout.splitlines()
    assert detail[0] == HEAD and detail[2].split()[3:7] == ["1", "Commit", "FIN", "OK"]
    assert detail[3].startswith("Warnings:Warning: interface ethernet1/7 is not bound")
    assert detail[4] == "Details:Configuration committed successfully"
    detail = vpnshd.shell("-c", "show jobs id 2").stdout.splitlines()
    assert detail[3:] == ["Warnings:",
                          "Details:zone -> z -> network -> layer3 'ethernet1/9' is not a valid "
                          "reference", "Commit failed"]
    r = vpnshd.shell("-c", "show jobs id 99")
    assert r.returncode == 1 and "Job 99 not found" in r.stderr


def test_job_ids_survive_a_restart_without_gaps(vpnshd: Daemon) -> None:
    vpnshd.set("network interface tunnel units tunnel.1 comment a")
    assert vpnshd.request("config.commit")["job"] == 1
    vpnshd.restart()
    vpnshd.set("network interface tunnel units tunnel.1 comment b")
    assert vpnshd.request("config.commit")["job"] == 2
    assert [j["id"] for j in vpnshd.request("jobs.show")["jobs"]] == [1, 2]


def test_output_json_prints_only_json_for_every_command(vpnshd: Daemon) -> None:
    import json

    script = ["configure", "set network interface tunnel units tunnel.3 comment j", "commit",
              "show network interface tunnel", "validate full", "save config to j1",
              "run show jobs all", "exit", "show system info", "show config running"]
    args: list[str] = ["--output", "json"]
    for line in script:
        args += ["-c", line]
    r = vpnshd.shell(*args)
    assert r.returncode == 0, r.stderr
    assert "Entering configuration mode" in r.stderr and "Entering" not in r.stdout
    decoder, text, docs = json.JSONDecoder(), r.stdout.strip(), []
    while text:  # one JSON document per command that has a result, nothing else
        doc, end = decoder.raw_decode(text)
        docs.append(doc)
        text = text[end:].strip()
    commit = docs[0]
    assert commit["job"] == 1 and commit["result"] == "OK"
    assert "Configuration committed successfully" in commit["lines"]
    assert "tunnel.3" in json.dumps(docs[1]) and docs[3]["lines"] == ["Config saved to j1"]
    assert docs[2]["result"] == "OK" and docs[2]["job"] == 2
    assert [j["id"] for j in docs[4]] == [1, 2]
    assert docs[5]["hostname"]
    assert len(docs) == 7
    r = vpnshd.shell("--output", "json", "-c", "configure", "-c", "show network interface tunnel")
    assert json.loads(r.stdout)  # one document: python3 -m json.tool reads it

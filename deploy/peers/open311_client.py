#!/usr/bin/env python3
"""A citizen's Open311 client against the hotline: the PyPI `georeport` package (an Open311
GeoReport v2 client, JSON and XML) reads services, definitions and requests; `requests` (which
georeport uses) files the request, since georeport 0.3 has no POST.

  1. lists services (JSON and XML) and reads a district matter's definition,
  2. files a request in Tianhe with an Idempotency-Key, and again: the same number comes back,
  3. checks error handling: a wrong api_key is 403 in the spec's error format,
  4. waits until the department (department.py, running meanwhile) completed it: GET shows
     `closed` with the department's reply in status_notes, in JSON and in XML.

Environment: OPEN311_BASE (e.g. http://127.0.0.1:8080/open311/v2), API_KEY, WAIT_SECS (60).
"""

import os
import sys
import time

import requests
from georeport import GeoReport


def fail(message):
    print(f"open311 peer: FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def main():
    base = os.environ.get("OPEN311_BASE", "http://127.0.0.1:8080/open311/v2")
    api_key = os.environ.get("API_KEY", "demo-open311-key")
    wait = float(os.environ.get("WAIT_SECS", "60"))
    json_client = GeoReport(base, api_key=api_key)
    xml_client = GeoReport(base, api_key=api_key, output_format="xml")

    services = json_client.get_service_list()
    xml_services = xml_client.get_service_list()
    if len(services) != len(xml_services) or len(services) < 500:
        fail(f"services: {len(services)} in JSON, {len(xml_services)} in XML")
    district = next((s for s in services if s.get("group") == "城乡建设"), None)
    if district is None:
        fail("no 城乡建设 (district) matter in the service list")
    code = district["service_code"]
    definition = json_client.get_service_definition(code)
    xml_definition = xml_client.get_service_definition(code)
    if definition.get("service_code") != code or xml_definition.get("service_code") != code:
        fail(f"service definition mismatch: {definition} / {xml_definition}")

    form = {
        "api_key": api_key,
        "service_code": code,
        "address_string": "广州市天河区天河北路233号",
        "description": "人行道井盖松动，行人容易绊倒",
        "phone": "13900139000",
    }
    headers = {"Idempotency-Key": f"peer-{time.time_ns()}"}
    first = requests.post(f"{base}/requests.json", data=form, headers=headers, timeout=10)
    if first.status_code != 201:
        fail(f"POST answered {first.status_code}: {first.text}")
    number = first.json()[0]["service_request_id"]
    if len(number) != 16 or not number.isdigit():
        fail(f"ticket number {number!r} is not 16 digits")
    again = requests.post(f"{base}/requests.json", data=form, headers=headers, timeout=10)
    if again.json()[0]["service_request_id"] != number:
        fail("a retried POST with the same Idempotency-Key got another number")

    wrong = requests.post(f"{base}/requests.json", data={**form, "api_key": "not-a-key"}, timeout=10)
    if wrong.status_code != 403 or wrong.json()[0].get("code") != 403:
        fail(f"wrong api_key answered {wrong.status_code}: {wrong.text}")
    wrong_xml = requests.post(f"{base}/requests.xml", data={**form, "api_key": "not-a-key"}, timeout=10)
    if wrong_xml.status_code != 403 or "<errors>" not in wrong_xml.text:
        fail(f"wrong api_key in XML answered {wrong_xml.status_code}: {wrong_xml.text}")

    deadline = time.time() + wait
    request = {}
    while time.time() < deadline:
        found = json_client.get_service_request(number)
        request = found[0] if isinstance(found, list) else found
        if request.get("status") == "closed":
            break
        time.sleep(0.5)
    else:
        fail(f"ticket {number} never closed: {request}")
    if not request.get("status_notes"):
        fail(f"closed without the department's reply: {request}")
    xml_found = xml_client.get_service_request(number)
    xml_request = xml_found[0] if isinstance(xml_found, list) else xml_found
    if xml_request.get("status") != "closed" or xml_request.get("service_request_id") != number:
        fail(f"XML view disagrees: {xml_request}")
    listed = json_client.get_service_requests(service_request_id=number)
    if [r["service_request_id"] for r in listed] != [number]:
        fail(f"GET requests?service_request_id gave {listed}")
    print(f"open311 peer: ok: ticket {number} filed, dispatched, completed by the department; "
          f"status_notes={request['status_notes']!r}")


if __name__ == "__main__":
    main()

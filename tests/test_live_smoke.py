import httpx


def test_two_workers_serve(live_server, admin):
    server = live_server(workers=2)
    r = httpx.get(server.url + "/v1/whoami", headers=admin)
    assert r.status_code == 200 and r.json()["scope"]["type"] == "admin"

from tests.test_authorization_matrix import *  # noqa

def test_probe(world, login):
    c = login(world.fx.collector)
    s = world.get("in_transit", "other")
    box = world.get("storage", "other").box
    for code in (s.manifest_number, box.barcode, world.get("received_tube", "other").barcode):
        r = c.get("/scan", query_string={"code": code})
        print("PROBE", code, r.status_code)

"""The robustness grade: a validation set of designs with the grade each must get, pictures
of every condition read by zxing-cpp here (not through the grader's own check), the refusal of
E and the warning of D through the API, the grade on codes, templates and the live preview."""

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from qrp_qr import grading
from qrplatform.testing.pytest_plugin import csrf_token
from tests.qr.conftest import decode_image

# As long as a real short link: with a logo (error correction H) a 33 x 33 code.
LINK = "https://qr.example/AbCdEf12"


def make_logo() -> Image.Image:
    """A typical logo: a coloured square with a light disc and a word."""
    image = Image.new("RGBA", (256, 256), (220, 60, 20, 255))
    draw = ImageDraw.Draw(image)
    draw.ellipse((40, 40, 216, 216), fill=(255, 255, 255, 255))
    draw.text((100, 120), "LOGO", fill=(0, 0, 0, 255))
    return image


def checker_logo() -> Image.Image:
    """The worst logo: a black and white checkerboard that looks like modules."""
    cells = (np.indices((256, 256)).sum(axis=0) // 16 % 2 * 255).astype(np.uint8)
    return Image.fromarray(cells).convert("RGBA")


# (name, design, logo, grade it must get, conditions it must fail)
VALIDATION_SET = [
    ("plain", {}, None, "A", set()),
    ("rounded modules", {"module_style": "rounded", "eye_style": "rounded"}, None, "A", set()),
    ("styled: rounded, frame, logo",
     {"module_style": "rounded", "eye_style": "rounded", "frame": "box", "logo": "c/x/l.png",
      "foreground": "#1a237e"}, make_logo, "A", set()),
    ("dots", {"module_style": "dots", "eye_style": "circle"}, None, "C", {"tilt_15", "busy"}),
    ("big logo", {"logo": "c/x/l.png", "logo_size": 0.30}, make_logo, "B", {"corner"}),
    ("inverted", {"foreground": "#ffffff", "background": "#000000"}, None, "E",
     {c.key for c in grading.CONDITIONS}),
    ("low contrast, still allowed (3.4:1)", {"foreground": "#8a8a8a"}, None, "B", {"glare"}),
    ("thin quiet zone (1 module)", {"quiet_zone": 1}, None, "A", set()),
    ("no quiet zone", {"quiet_zone": 0}, None, "B", {"busy"}),
    ("everything at once: dots, circles, no quiet zone, pale, L",
     {"module_style": "dots", "eye_style": "circle", "quiet_zone": 1, "foreground": "#8a8a8a",
      "error_correction": "L"}, None, "D", {"glare", "corner"}),
    ("pale dots around a checkerboard logo",
     {"module_style": "dots", "eye_style": "circle", "quiet_zone": 0, "foreground": "#949494",
      "logo": "c/x/l.png", "logo_size": 0.30}, checker_logo, "E", {"tilt_30", "far"}),
]


@pytest.mark.parametrize("name,design,logo,expected,must_fail", VALIDATION_SET,
                         ids=[case[0] for case in VALIDATION_SET])
def test_each_design_of_the_validation_set_gets_its_grade(name, design, logo, expected,
                                                          must_fail):
    grade = grading.grade(LINK, design, logo() if logo else None)
    assert grade.grade == expected, (name, grade.as_dict())
    failing = {f["condition"] for f in grade.failing}
    assert must_fail <= failing, (name, failing)
    if expected == "A":
        assert not failing and grade.score == 1.0
    # Same design, same grade: every random choice has a fixed seed.
    again = grading.grade(LINK, design, logo() if logo else None)
    assert again.as_dict() == grade.as_dict()


def _decoded_conditions(design, logo) -> dict[str, bool]:
    """Each condition's picture, read by zxing-cpp in this test."""
    scene = grading.scene(LINK, design, logo)
    return {condition.key: LINK in decode_image(Image.fromarray(condition.shoot(scene)))
            for condition in grading.CONDITIONS}


def test_a_design_graded_a_decodes_under_every_condition_and_one_graded_e_fails_most():
    graded_a = [(d, logo) for _, d, logo, expected, _ in VALIDATION_SET if expected == "A"]
    assert len(graded_a) >= 3
    for design, logo in graded_a:
        decoded = _decoded_conditions(design, logo() if logo else None)
        assert all(decoded.values()), (design, decoded)
    for _, design, logo, expected, _ in VALIDATION_SET:
        if expected != "E":
            continue
        decoded = _decoded_conditions(design, logo() if logo else None)
        failed_weight = sum(c.weight for c in grading.CONDITIONS if not decoded[c.key])
        assert failed_weight > grading.TOTAL_WEIGHT / 2, (design, decoded)


def test_the_conditions_are_the_ones_the_grade_promises():
    keys = {c.key for c in grading.CONDITIONS}
    assert {"blur_slight", "blur_medium", "blur_strong", "tilt_15", "tilt_30", "tilt_45",
            "rotated", "jpeg", "dim", "corner", "far", "very_far"} <= keys
    # The degraded pictures really differ from the sharp one (a condition that changes nothing
    # would grade nothing).
    scene = grading.scene(LINK, {})
    sharp = np.asarray(grading._plain(scene))
    for condition in grading.CONDITIONS:
        picture = condition.shoot(scene)
        assert picture.dtype == np.uint8 and picture.ndim == 2
        assert picture.shape != sharp.shape or np.abs(
            picture.astype(int) - sharp).mean() > 1, condition.key


def test_failing_conditions_say_what_to_change():
    big_logo = grading.grade(LINK, {"logo": "c/x/l.png", "logo_size": 0.30}, make_logo())
    corner = next(f for f in big_logo.failing if f["condition"] == "corner")
    assert "logo" in corner["advice"] and "18 %" in corner["advice"]
    pale = grading.grade(LINK, {"foreground": "#8a8a8a"})
    glare = next(f for f in pale.failing if f["condition"] == "glare")
    assert "contrast" in glare["advice"]
    bare = grading.grade(LINK, {"quiet_zone": 0})
    assert "quiet zone" in next(f for f in bare.failing if f["condition"] == "busy")["advice"]
    assert "Fails printed on a busy page" in bare.summary


def test_the_smallest_readable_module_is_measured():
    plain = grading.grade(LINK, {})
    dots = grading.grade(LINK, {"module_style": "dots", "eye_style": "circle"})
    assert plain.min_module_px is not None and dots.min_module_px is not None
    assert plain.min_module_px < dots.min_module_px <= 2.5
    assert grading.grade(LINK, {"foreground": "#ffffff", "background": "#000000"}
                         ).min_module_px is None


# -- through the API and the editor --------------------------------------------------------------

def upload(caller, image: Image.Image) -> int | str:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    response = caller.post("/api/v1/qr-codes/logos",
                           data={"file": (io.BytesIO(buffer.getvalue()), "logo.png")},
                           content_type="multipart/form-data")
    assert response.status_code == 201, response.json
    return response.json["logo"]


def test_every_code_and_template_carries_its_grade(api):
    caller = api()
    code = caller.post("/api/v1/qr-codes", json={"type": "url", "kind": "dynamic",
                                                "content": {"url": "https://example.com"}}).json
    assert code["scan_grade"]["grade"] == "A" and code["scan_grade"]["failing"] == []
    assert caller.get(f"/api/v1/qr-codes/{code['id']}").json["scan_grade"]["grade"] == "A"
    listed = caller.get("/api/v1/qr-codes").json["items"][0]
    assert listed["scan_grade"] == code["scan_grade"]
    changed = caller.patch(f"/api/v1/qr-codes/{code['id']}", json={"design": {
        "module_style": "dots", "eye_style": "circle"}}).json
    assert changed["scan_grade"]["grade"] in "BC"
    assert changed["scan_grade"]["failing"][0]["advice"]
    template = caller.post("/api/v1/qr-design-templates", json={
        "name": "Dots", "design": {"module_style": "dots", "eye_style": "circle"}})
    assert template.status_code == 201
    assert template.json["scan_grade"]["grade"] in "BC"
    listed = caller.get("/api/v1/qr-design-templates").json
    assert listed[0]["scan_grade"] == template.json["scan_grade"]


def test_grade_e_is_refused_and_d_warns(api):
    caller = api()
    logo = upload(caller, checker_logo())
    refused = caller.post("/api/v1/qr-codes", json={
        "type": "url", "content": {"url": "https://x.example/AbCdEf12"},
        "design": {"module_style": "dots", "eye_style": "circle", "quiet_zone": 0,
                   "foreground": "#949494", "logo": logo, "logo_size": 0.3}})
    assert refused.status_code == 422, refused.json
    message = refused.json["error"]["fields"]["design"][0]
    assert "scan grade E" in message and "Fails" in message
    template = caller.post("/api/v1/qr-design-templates", json={
        "name": "Bad", "design": {"module_style": "dots", "eye_style": "circle",
                                  "quiet_zone": 0, "foreground": "#949494", "logo": logo,
                                  "logo_size": 0.3}})
    assert template.status_code in (201, 422)  # graded on a sample link: its own grade
    warned = caller.post("/api/v1/qr-codes", json={
        "type": "url", "content": {"url": "https://x.example/AbCdEf12"},
        "design": {"module_style": "dots", "eye_style": "circle", "quiet_zone": 1,
                   "foreground": "#8a8a8a", "error_correction": "L"}})
    assert warned.status_code == 201, warned.json
    assert warned.json["scan_grade"]["grade"] == "D"
    assert "Scan grade D" in warned.json["scan_grade"]["warning"]


def test_the_grade_is_in_the_openapi_document(client):
    spec = client.get("/api/openapi.json").json
    schemas = spec["components"]["schemas"]
    grade = next(s for name, s in schemas.items() if name.startswith("ScanGrade"))
    assert {"grade", "score", "failing", "min_module_px", "warning"} <= set(grade["properties"])
    code = next(s for name, s in schemas.items() if name.startswith("QRCode")
                and "scan_grade" in s.get("properties", {}))
    assert code["properties"]["scan_grade"]
    assert any("scan_grade" in s.get("properties", {}) for name, s in schemas.items()
               if name.startswith("DesignTemplate"))


def test_the_live_preview_shows_the_grade(client, create_user, login):
    login(create_user())
    token = csrf_token(client, "/qr/new")
    base = {"type": "url", "kind": "static", "content-url-url": "https://example.com",
            "foreground": "#000000", "background": "#ffffff", "module_style": "square",
            "eye_style": "square", "error_correction": "M", "quiet_zone": "4",
            "frame": "none", "logo_size": "0.22"}
    headers = {"X-CSRFToken": token, "HX-Request": "true"}
    good = client.post("/qr/preview", data=base, headers=headers).get_data(as_text=True)
    assert "Scan grade" in good and ">A<" in good
    dots = client.post("/qr/preview", data={**base, "module_style": "dots",
                                            "eye_style": "circle"},
                       headers=headers).get_data(as_text=True)
    assert "Fails " in dots and ">A<" not in dots


# -- print guidance -------------------------------------------------------------------------------

def test_print_guidance_sizes_grow_with_distance_and_the_smallest_size_decodes():
    from qrp_qr import printsize

    grade = grading.grade(LINK, {"module_style": "rounded"}).as_dict()
    guide = printsize.guidance(grade)
    presets = printsize.summary(grade)["presets"]
    assert [p["preset"] for p in presets] == ["hand", "poster", "billboard"]
    sizes = [p["smallest_width_mm"] for p in presets]
    assert sizes == sorted(sizes) and 15 <= sizes[0] <= 40 and 120 <= sizes[1] <= 300
    assert "print at least" in presets[0]["advice"] and "cm wide" in presets[0]["advice"]
    # Printed at the smallest width for 2 m and seen by the modelled camera from 2 m: the
    # picture a phone gets still decodes (the safety margin included, so also from 20 % further).
    width = guide.smallest_width_mm(2000)
    for distance in (2000, 2400):
        pixels = round(width * printsize.camera_px_per_mm(distance))
        scene = grading.scene(LINK, {"module_style": "rounded"})
        seen = scene.image.resize((pixels, pixels), Image.BOX)
        assert LINK in decode_image(seen), distance
    # The inverse: that width scans from (at least) 2 m.
    assert guide.farthest_mm(width) == pytest.approx(2000, rel=0.01)
    assert printsize.guidance(grading.grade(LINK, {"foreground": "#ffffff",
                                                   "background": "#000000"}).as_dict()) is None


def test_print_guidance_through_the_api(api):
    caller = api()
    code = caller.post("/api/v1/qr-codes", json={"type": "url", "kind": "dynamic",
                                                "content": {"url": "https://example.com"}}).json
    assert [p["preset"] for p in code["print_guidance"]["presets"]] == ["hand", "poster",
                                                                         "billboard"]
    url = f"/api/v1/qr-codes/{code['id']}/print-guidance"
    asked = caller.get(url + "?distance=0.25&width=2&unit=in").json
    assert "from 25 cm" in asked["distance"]["advice"]
    assert asked["width"]["width_mm"] == pytest.approx(50.8)
    assert asked["width"]["farthest_mm"] > asked["distance"]["distance_mm"]
    for bad in ("?distance=0", "?distance=1000", "?width=-1", "?unit=ft", "?distance=x"):
        refused = caller.get(url + bad)
        assert refused.status_code == 422, bad
        assert refused.json["error"]["fields"]
    assert caller.get("/api/v1/qr-codes/999999/print-guidance").status_code == 404
    spec = caller.get("/api/openapi.json").json
    assert "/api/v1/qr-codes/{code_id}/print-guidance" in spec["paths"]


def test_the_editor_says_how_large_to_print(client, create_user, login):
    login(create_user())
    token = csrf_token(client, "/qr/new")
    base = {"type": "url", "kind": "dynamic", "content-url-url": "https://example.com",
            "foreground": "#000000", "background": "#ffffff", "module_style": "square",
            "eye_style": "square", "error_correction": "M", "quiet_zone": "4",
            "frame": "none", "logo_size": "0.22"}
    headers = {"X-CSRFToken": token, "HX-Request": "true"}
    page = client.post("/qr/preview", data=base, headers=headers).get_data(as_text=True)
    assert "How large to print it" in page and "Print at least" in page
    asked = client.post("/qr/preview", data={**base, "print_distance": "2",
                                             "print_width": "5"},
                        headers=headers).get_data(as_text=True)
    assert "scanning from 2 m" in asked and "Printed 5.0 cm wide" in asked
    ignored = client.post("/qr/preview", data={**base, "print_distance": "nan"},
                          headers=headers)
    assert ignored.status_code == 200

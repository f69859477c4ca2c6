"""Canvas: a QTI 1.2 package (a zip) with one Classic Quizzes assessment.

Canvas marks a fill-in-multiple-blanks question by matching each blank's text
against its answers, so ``0.30`` would not match ``0.3``, and it takes no
tolerance. A numerical question does: Canvas exports and imports an exact
answer with a margin as ``varequal`` or ``vargte``/``varlte`` bounds around
it. So each problem becomes a text item with its givens and then one
numerical question per entry, worth that entry's share of its quantity's
points; the question's general feedback is the worked derivation of that
entry.

The zip holds ``imsmanifest.xml``, the assessment ``ID/ID.xml`` and Canvas's
quiz settings ``ID/assessment_meta.xml``, laid out as Canvas's own QTI export.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from fractions import Fraction

from cnnstep.export.blanks import Blank, Part, split_points
from cnnstep.export.exercise import NAMESPACE, Exercise
from cnnstep.export.feedback import solution_html
from cnnstep.export.givens import givens_html, text
from cnnstep.numbers import exact_decimal
from cnnstep.quantities import BY_KEY

QTI = "http://www.imsglobal.org/xsd/ims_qtiasiv1p2"
QTI_SCHEMA = f"{QTI} http://www.imsglobal.org/xsd/ims_qtiasiv1p2p1.xsd"
CANVAS = "http://canvas.instructure.com/xsd/cccv1p0"
CANVAS_SCHEMA = f"{CANVAS} https://canvas.instructure.com/xsd/cccv1p0.xsd"
MANIFEST = "http://www.imsglobal.org/xsd/imsccv1p1/imscp_v1p1"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
#: Canvas's resource types: a QTI assessment, and the quiz settings beside it
QTI_RESOURCE = "imsqti_xmlv1p2"
SETTINGS_RESOURCE = "associatedcontent/imscc_xmlv1p1/learning-application-resource"

#: what every problem says before its givens
INTRO = ("<p>One convolution layer, computed as deep-learning frameworks do "
         "(a cross-correlation). The questions after this one ask for its quantities, "
         "one entry each. Write each value exactly, or rounded to 4 decimal places when it "
         "has more. Indices start at 0.</p>")


def _text(parent: ET.Element, tag: str, content: str, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attributes)
    element.text = content
    return element


def _metadata(item: ET.Element, fields: dict[str, str]) -> None:
    data = ET.SubElement(ET.SubElement(item, "itemmetadata"), "qtimetadata")
    for label, entry in fields.items():
        field = ET.SubElement(data, "qtimetadatafield")
        _text(field, "fieldlabel", label)
        _text(field, "fieldentry", entry)


def _material(parent: ET.Element, html: str) -> None:
    _text(ET.SubElement(parent, "material"), "mattext", html, texttype="text/html")


def text_item(exercise: Exercise) -> ET.Element:
    """The problem's givens and what it asks, as a text-only item."""
    item = ET.Element("item", ident=f"i{exercise.uid.hex}", title=exercise.title)
    _metadata(item, {"question_type": "text_only_question", "points_possible": "0"})
    asks = "".join(f"<li>{text(part.asked)}: {text(part.meaning)}</li>"
                   for part in exercise.parts)
    html = (f"<h3>{text(exercise.title)}</h3>{INTRO}<h4>Given</h4>"
            f"{givens_html(exercise.problem)}<h4>Asked</h4><ul>{asks}</ul>")
    _material(ET.SubElement(item, "presentation"), html)
    return item


def bounds(blank: Blank) -> tuple[str, str]:
    """The accepted interval around the answer, as decimals."""
    answer = Fraction(blank.text)
    return exact_decimal(answer - blank.tolerance), exact_decimal(answer + blank.tolerance)


def numerical_item(exercise: Exercise, part: Part, blank: Blank, number: int,
                   points: Fraction) -> ET.Element:
    """One entry as a numerical question: the answer, with the tolerance as its margin."""
    item = ET.Element("item", ident=f"i{exercise.uid.hex}_{number}",
                      title=f"{exercise.title}: {blank.name}")
    _metadata(item, {"question_type": "numerical_question",
                     "points_possible": exact_decimal(points)})
    presentation = ET.SubElement(item, "presentation")
    _material(presentation, f"<p>{text(exercise.title)}, {text(part.meaning)}: "
                            f"<strong>{text(blank.name)}</strong> =</p>")
    response = ET.SubElement(presentation, "response_str", ident="response1",
                             rcardinality="Single")
    ET.SubElement(ET.SubElement(response, "render_fib", fibtype="Decimal"),
                  "response_label", ident="answer1")

    processing = ET.SubElement(item, "resprocessing")
    ET.SubElement(ET.SubElement(processing, "outcomes"), "decvar", maxvalue="100",
                  minvalue="0", varname="SCORE", vartype="Decimal")
    general = ET.SubElement(processing, "respcondition", {"continue": "Yes"})
    ET.SubElement(ET.SubElement(general, "conditionvar"), "other")
    ET.SubElement(general, "displayfeedback", feedbacktype="Response", linkrefid="general_fb")
    right = ET.SubElement(processing, "respcondition", {"continue": "No"})
    either = ET.SubElement(ET.SubElement(right, "conditionvar"), "or")
    _text(either, "varequal", blank.text, respident="response1")
    low, high = bounds(blank)
    within = ET.SubElement(either, "and")
    _text(within, "vargte", low, respident="response1")
    _text(within, "varlte", high, respident="response1")
    _text(right, "setvar", "100", action="Set", varname="SCORE")

    feedback = ET.SubElement(item, "itemfeedback", ident="general_fb")
    # the history is worked out whole, its blanks' feedback too
    key = blank.name.partition("[")[0]
    shown = key if BY_KEY[key].axes == "history" else blank.name
    _material(ET.SubElement(feedback, "flow_mat"), solution_html(exercise.worked,
                                                                  only=[shown]))
    return item


def _xml(root: ET.Element) -> str:
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def assessment(exercises: Sequence[Exercise], ident: str, title: str) -> str:
    """The QTI assessment: per problem, its text item and then its entries."""
    root = ET.Element("questestinterop", {"xmlns": QTI, "xmlns:xsi": XSI,
                                          "xsi:schemaLocation": QTI_SCHEMA})
    test = ET.SubElement(root, "assessment", ident=ident, title=title)
    data = ET.SubElement(test, "qtimetadata")
    field = ET.SubElement(data, "qtimetadatafield")
    _text(field, "fieldlabel", "cc_maxattempts")
    _text(field, "fieldentry", "1")
    section = ET.SubElement(test, "section", ident="root_section")
    for exercise in exercises:
        section.append(text_item(exercise))
        number = 0
        for part in exercise.parts:
            shares = split_points(part.points, len(part.blanks))
            for blank, points in zip(part.blanks, shares, strict=True):
                number += 1
                section.append(numerical_item(exercise, part, blank, number, points))
    return _xml(root)


def total_points(exercises: Sequence[Exercise]) -> Fraction:
    return sum((part.points for exercise in exercises for part in exercise.parts), Fraction(0))


def settings(exercises: Sequence[Exercise], ident: str, title: str) -> str:
    """Canvas's quiz settings: title, points, and answers shown after submitting."""
    root = ET.Element("quiz", {"identifier": ident, "xmlns": CANVAS, "xmlns:xsi": XSI,
                               "xsi:schemaLocation": CANVAS_SCHEMA})
    _text(root, "title", title)
    _text(root, "description", "")
    _text(root, "shuffle_answers", "false")
    _text(root, "scoring_policy", "keep_highest")
    _text(root, "quiz_type", "assignment")
    _text(root, "points_possible", exact_decimal(total_points(exercises)))
    _text(root, "show_correct_answers", "true")
    _text(root, "one_question_at_a_time", "false")
    _text(root, "cant_go_back", "false")
    _text(root, "available", "false")
    return _xml(root)


def manifest(ident: str, files: Sequence[str]) -> str:
    """``imsmanifest.xml``: the assessment and its settings, every file named."""
    assessment_file, settings_file = files
    root = ET.Element("manifest", {"identifier": f"{ident}_manifest", "xmlns": MANIFEST,
                                   "xmlns:xsi": XSI})
    metadata = ET.SubElement(root, "metadata")
    _text(metadata, "schema", "IMS Content")
    _text(metadata, "schemaversion", "1.1.3")
    ET.SubElement(root, "organizations")
    resources = ET.SubElement(root, "resources")
    test = ET.SubElement(resources, "resource", identifier=ident, type=QTI_RESOURCE)
    ET.SubElement(test, "file", href=assessment_file)
    ET.SubElement(test, "dependency", identifierref=f"{ident}_settings")
    meta = ET.SubElement(resources, "resource", identifier=f"{ident}_settings",
                         type=SETTINGS_RESOURCE, href=settings_file)
    ET.SubElement(meta, "file", href=settings_file)
    return _xml(root)


def title_of(exercises: Sequence[Exercise]) -> str:
    titles = ", ".join(exercise.title for exercise in exercises)
    return titles if len(titles) <= 80 else f"{len(exercises)} convolution problems"


def package(exercises: Sequence[Exercise]) -> dict[str, str]:
    """The zip's members, by name: the manifest first."""
    key = ",".join(str(exercise.uid) for exercise in exercises)
    ident = "cnnstep_" + uuid.uuid5(NAMESPACE, key).hex
    title = title_of(exercises)
    files = [f"{ident}/{ident}.xml", f"{ident}/assessment_meta.xml"]
    return {"imsmanifest.xml": manifest(ident, files),
            files[0]: assessment(exercises, ident, title),
            files[1]: settings(exercises, ident, title)}

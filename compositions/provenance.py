"""Provenance: every stored result says it is AI-generated, and by which model.

IPTC's DigitalSourceType `trainedAlgorithmicMedia`, in an XMP packet, spliced into the image
file as received (a PNG iTXt chunk, a JPEG APP1 segment) so no pixel is re-encoded. WebP gets
the packet through Pillow's encoder. Written by hand for PNG and JPEG because Pillow can only
add XMP by re-encoding the whole image, and the provider's bytes are kept as they came.
"""

import io
import struct
import zlib
from xml.sax.saxutils import quoteattr

from PIL import Image

DIGITAL_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
JPEG_XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"


def xmp_packet(*, model: str, provider: str) -> bytes:
    tool = f"bananasite: {model} via {provider}"
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about=""'
        ' xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"'
        ' xmlns:xmp="http://ns.adobe.com/xap/1.0/"'
        ' xmlns:bananasite="https://bananasite.dev/ns/provenance/1.0/"'
        f' Iptc4xmpExt:DigitalSourceType="{DIGITAL_SOURCE_TYPE}"'
        f" xmp:CreatorTool={quoteattr(tool)}"
        f" bananasite:model={quoteattr(model)}"
        f" bananasite:provider={quoteattr(provider)}/>"
        "</rdf:RDF></x:xmpmeta>"
        '<?xpacket end="w"?>'
    ).encode()


def _png_with_xmp(data: bytes, packet: bytes) -> bytes:
    """Insert an iTXt "XML:com.adobe.xmp" chunk before IEND."""
    payload = b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + packet
    chunk = (
        struct.pack(">I", len(payload))
        + b"iTXt"
        + payload
        + struct.pack(">I", zlib.crc32(b"iTXt" + payload) & 0xFFFFFFFF)
    )
    iend = data.rfind(b"IEND")
    if iend < 4:
        raise ValueError("not a PNG")
    return data[: iend - 4] + chunk + data[iend - 4 :]


def _jpeg_with_xmp(data: bytes, packet: bytes) -> bytes:
    """Insert an APP1 XMP segment after SOI and any APP0 (JFIF) segment."""
    if data[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG")
    body = JPEG_XMP_HEADER + packet
    segment = b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body
    position = 2
    if data[2:4] == b"\xff\xe0":  # keep JFIF first, as readers expect
        position = 4 + struct.unpack(">H", data[4:6])[0]
    return data[:position] + segment + data[position:]


def with_provenance(data: bytes, mime_type: str, *, model: str, provider: str) -> bytes:
    packet = xmp_packet(model=model, provider=provider)
    if mime_type == "image/png":
        return _png_with_xmp(data, packet)
    if mime_type == "image/jpeg":
        return _jpeg_with_xmp(data, packet)
    img = Image.open(io.BytesIO(data))  # WebP and anything else: through Pillow's encoder
    buf = io.BytesIO()
    img.save(buf, img.format or "WEBP", xmp=packet, lossless=True)
    return buf.getvalue()


def read_provenance(data: bytes) -> bytes | None:
    """The XMP packet of an image, as Pillow reads it back (for checks and tests)."""
    img = Image.open(io.BytesIO(data))
    img.load()
    xmp = img.info.get("xmp") or img.info.get("XML:com.adobe.xmp")
    if isinstance(xmp, str):
        xmp = xmp.encode()
    return xmp

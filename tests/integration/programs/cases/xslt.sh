#!/usr/bin/env bash
# xslt.sh XSLTPROC INPUT.xml -- an XSLT 1.0 report over a catalogue: grouping with keys (the
# Muenchian method), sorting, sums, string functions; prints the sha256 and the head of it.
set -euo pipefail
x=$1 in=$2
cat >report.xsl <<'XSL'
<?xml version="1.0"?>
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:output method="xml" indent="yes"/>
  <xsl:key name="by-cat" match="item" use="@cat"/>
  <xsl:template match="/catalog">
    <report items="{count(item)}" value="{format-number(sum(item/price), '0.00')}">
      <xsl:for-each select="item[generate-id() = generate-id(key('by-cat', @cat)[1])]">
        <xsl:sort select="@cat"/>
        <xsl:variable name="group" select="key('by-cat', @cat)"/>
        <category name="{@cat}" n="{count($group)}" qty="{sum($group/qty)}">
          <xsl:for-each select="$group">
            <xsl:sort select="price" data-type="number" order="descending"/>
            <xsl:sort select="@id" data-type="number"/>
            <xsl:if test="position() &lt;= 3">
              <top id="{@id}" name="{translate(normalize-space(name), 'abcdefghijklmnopqrstuvwxyz', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ')}"
                   price="{price}" cents="{substring-after(price, '.')}"/>
            </xsl:if>
          </xsl:for-each>
        </category>
      </xsl:for-each>
    </report>
  </xsl:template>
</xsl:stylesheet>
XSL
"$x" report.xsl "$in" >report.xml
sha256sum <report.xml
head -8 report.xml
"$x" --param n 3 - "$in" <<'XSL' | sha256sum
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:output method="text"/>
  <xsl:template match="item"><xsl:value-of select="concat(@id, ',', name, ',', qty * price, '&#10;')"/></xsl:template>
</xsl:stylesheet>
XSL

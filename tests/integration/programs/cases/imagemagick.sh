#!/usr/bin/env bash
# imagemagick.sh CONVERT -- ImageMagick (OpenMP threads) draws an image from scratch, resizes,
# blurs, rotates and composes it, and writes PNG, JPEG and raw pixels; prints checksums of the
# decoded pixels (which do not depend on encoder metadata such as dates).
set -euo pipefail
c=$1
export OMP_NUM_THREADS=2
"$c" -size 800x600 gradient:navy-orange \( -size 800x600 radial-gradient:white-black \) \
    -compose multiply -composite -fill yellow -draw "circle 400,300 400,100" \
    -fill none -stroke white -strokewidth 5 -draw "polyline 10,10 200,550 600,30 790,590" src.png
"$c" src.png -resize 50% -blur 0x3 -rotate 17 -background black -flatten small.png
"$c" src.png -resize 640x480\! -sharpen 0x1.5 -quality 85 -sampling-factor 2x2 out.jpg
"$c" src.png -colorspace Gray -edge 2 -normalize -depth 8 gray:- | sha256sum
for f in src.png small.png out.jpg; do
    echo "$f $("$c" "$f" -format '%wx%h' info:) $("$c" "$f" -depth 8 rgb:- | sha256sum | cut -c1-64)"
done
"$c" small.png -scale 25% -format '%[fx:int(mean*1000)] %[colors]\n' info:
"$c" out.jpg -resize 200% -unsharp 0x2 -crop 300x300+100+100 +repage -depth 8 rgb:- | sha256sum

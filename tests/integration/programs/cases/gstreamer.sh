#!/usr/bin/env bash
# gstreamer.sh GST_LAUNCH -- GStreamer pipelines from gst-plugins-base (a streaming thread per
# source and queue): test audio resampled, mixed, Vorbis-encoded into Ogg and decoded again; test
# video scaled, converted, composited, rate-changed, Theora-encoded and decoded. Prints checksums
# of decoded raw data (Ogg containers carry random stream serial numbers, so not of those).
set -euo pipefail
g=$1
"$g" -q audiotestsrc num-buffers=300 wave=sine freq=440 ! audio/x-raw,rate=48000,channels=2 \
    ! queue ! audioresample ! audio/x-raw,rate=22050 ! audioconvert ! audio/x-raw,format=S16LE \
    ! filesink location=tone.raw
"$g" -q audiomixer name=m ! audioconvert ! audio/x-raw,format=S16LE,channels=1 ! filesink location=mix.raw \
    audiotestsrc num-buffers=200 wave=triangle freq=330 ! audioconvert ! audio/x-raw,format=F32LE ! queue ! m. \
    audiotestsrc num-buffers=200 wave=square freq=220 ! audioconvert ! audio/x-raw,format=F32LE ! queue ! m.
"$g" -q audiotestsrc num-buffers=200 wave=saw ! audioconvert ! vorbisenc quality=0.4 ! oggmux \
    ! filesink location=saw.ogg
"$g" -q filesrc location=saw.ogg ! oggdemux ! vorbisdec ! audioconvert ! audio/x-raw,format=S16LE \
    ! filesink location=saw.raw
"$g" -q videotestsrc num-buffers=90 pattern=smpte ! video/x-raw,width=640,height=480,framerate=30/1 \
    ! queue ! videoscale ! video/x-raw,width=320,height=240 ! videoconvert ! video/x-raw,format=I420 \
    ! videorate ! video/x-raw,framerate=15/1 ! filesink location=smpte.yuv
"$g" -q compositor name=c ! video/x-raw,width=352,height=288 ! videoconvert ! video/x-raw,format=RGB \
    ! filesink location=comp.rgb \
    videotestsrc num-buffers=40 pattern=ball ! video/x-raw,width=352,height=288 ! queue ! c. \
    videotestsrc num-buffers=40 pattern=checkers-8 ! video/x-raw,width=176,height=144 ! queue ! c.
"$g" -q videotestsrc num-buffers=60 pattern=zone-plate ! video/x-raw,width=320,height=240 ! theoraenc \
    ! oggmux ! filesink location=zone.ogg
"$g" -q filesrc location=zone.ogg ! oggdemux ! theoradec ! videoconvert ! video/x-raw,format=I420 \
    ! filesink location=zone.yuv
sha256sum tone.raw mix.raw saw.raw smpte.yuv comp.rgb zone.yuv

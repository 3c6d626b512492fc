// The test binaries' precompiled headers: the library's, plus GoogleTest's (SV_PCH).
#include "sv_pch.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

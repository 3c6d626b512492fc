// The test binaries' precompiled headers: the library's, plus GoogleTest's (SV_PCH).
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sv_pch.h"

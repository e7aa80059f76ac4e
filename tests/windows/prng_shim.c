/* A stand-in bcryptprimitives.dll for Wine 8 only: Rust's std on Windows
 * draws its random keys from ProcessPrng (bcryptprimitives.dll, Windows 10
 * and later), which Wine 8 does not have. The Windows tests build this with
 * mingw at test time and place it beside a test copy of kensa.exe; it is
 * never part of the product (real Windows has the DLL). ProcessPrng is
 * answered with RtlGenRandom (advapi32's SystemFunction036), which Wine has. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG n = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!SystemFunction036(data, n))
            return FALSE;
        data += n;
        len -= n;
    }
    return TRUE;
}

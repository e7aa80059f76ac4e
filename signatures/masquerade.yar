// Executables disguised as documents: double extensions, document
// extensions on PE files, and right-to-left override characters in names.
rule Exe_Double_Extension
{
    meta:
        description = "Executable named like a document (report.pdf.exe)"
        severity = "high"
        author = "kensa"
        reference = "https://attack.mitre.org/techniques/T1036/007/"
    condition:
        filename matches /\.(pdf|docx?|xlsx?|pptx?|rtf|txt|csv|jpe?g|png|gif|bmp|mp3|mp4|avi|zip|rar)[\s\xC2\xA0]*\.(exe|scr|com|pif|cpl|bat|cmd|vbs|js|jse|hta|msi|lnk)$/i
}

rule Exe_With_Document_Extension
{
    meta:
        description = "Windows executable whose name ends in a document extension"
        severity = "high"
        author = "kensa"
        reference = "https://attack.mitre.org/techniques/T1036/008/"
    condition:
        uint16(0) == 0x5A4D and uint32(uint32(0x3C)) == 0x00004550
        and filename matches /\.(pdf|docx?|xlsx?|pptx?|rtf|txt|csv|jpe?g|png|gif)$/i
}

rule Name_With_Bidi_Override
{
    meta:
        description = "File name with a right-to-left override or other bidi control (extension spoofing)"
        severity = "high"
        author = "kensa"
        reference = "https://attack.mitre.org/techniques/T1036/002/"
    condition:
        // U+202E RLO, U+202D LRO, U+202B RLE, U+2066-2069 isolates, in UTF-8
        filename matches /\xE2\x80[\xAB\xAD\xAE]|\xE2\x81[\xA6-\xA9]/
}

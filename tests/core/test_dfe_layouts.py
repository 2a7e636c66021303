"""Every DfE context layout is recognised from its header, in a small fixture written here.

Headers are the published header rows of the real files in ../shared/data (header names
only); the rows are invented.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import openpyxl
import pytest

from evenhand.core.pipeline import build_warehouse
from helpers import csv_text, write


def cols(header: str) -> list[str]:
    """A published header row, as its column names."""
    return header.split(",")


CENSUS_2019 = cols(
    "URN,LA,ESTAB,SCHOOLTYPE,NOR,NORG,NORB,PNORG,PNORB,TSENELSE,PSENELSE,TSENELK,PSENELK,NUMEAL,"
    "NUMENGFL,NUMUNCFL,PNUMEAL,PNUMENGFL,PNUMUNCFL,NUMFSM,NUMFSMEVER,PNUMFSMEVER"
)
# the one-local-authority census copies labelled 2017 and 2018: PNUMFSM, no SCHOOLTYPE or NUMFSM
CENSUS_LABELLED = cols(
    "URN,LA,ESTAB,NOR,NORG,NORB,PNORG,PNORB,TSENELSE,PSENELSE,TSENELK,PSENELK,NUMEAL,NUMENGFL,"
    "NUMUNCFL,PNUMEAL,PNUMENGFL,PNUMUNCFL,PNUMFSM,NUMFSMEVER,PNUMFSMEVER"
)
ABSENCE = cols("LA,ESTAB,URN,PERCTOT,PPERSABS10")
KS2_SUBSET = cols(
    "RECTYPE,URN,SCHNAME,PCODE,PCODE2,TOWN,READPROG,READPROG_DESCR,WRITPROG,WRITPROG_DESCR,MATPROG,"
    "MATPROG_DESCR,OFSTEDRATING,INSPECTIONDT,WEB,SCHTYPE,GENDER,RELIGION,LATITUDE,LONGITUDE,COLOUR1,"
    "COLOUR2,PHASE"
)
KS4_SUBSET = cols(
    "RECTYPE,URN,SCHNAME,PCODE,PCODE2,TOWN,P8MEA,P8_BANDING,ATT8SCR,PTL2BASICS_95,PTEBACC_E_PTQ_EE,"
    "EBACCAPS,OFSTEDRATING,INSPECTIONDT,WEB,SCHTYPE,GRAMMAR,GENDER,RELIGION,LATITUDE,LONGITUDE,"
    "COLOUR1,COLOUR2,PHASE"
)
# KS4 final / provisional headline columns (2018 and 2019 layout)
KS4_HEADLINE = cols(
    "RECTYPE,LEA,ESTAB,URN,SCHNAME,ICLOSE,NFTYPE,TPUP,ATT8SCR,P8PUP,TP8ADJ,P8MEA,P8CILOW,P8CIUPP,"
    "P8MEA_ORIG,P8CILOW_ORIG,P8CIUPP_ORIG,PTL2BASICS_94,PTL2BASICS_95,EBACCAPS,PTEBACC_E_PTQ_EE,"
    "PTEBACC_94,PTEBACC_95,PT5EM_94,P8_BANDING"
)
KS4_2017 = cols(
    "RECTYPE,LEA,ESTAB,SCHNAME,URN,ICLOSE,NFTYPE,TPUP,ATT8SCR,P8MEA,P8CILOW,P8CIUPP,PTEBACC_E_PTQ_EE,"
    "PTEBACC_95,PTL2BASICS_95,PTEBACC_94,PTL2BASICS_94,PT5EM_94"
)
SPINE = cols(
    "URN,LA,ESTAB,LAESTAB,SCHNAME,OTHERSCHNAME,STREET,LOCALITY,ADDRESS3,TOWN,POSTCODE,TELNUM,ICLOSE,"
    "OPENDATE,CLOSEDATE,ISNEW,MINORGROUP,NFTYPE,OTHERNFTYPE,ISPRIMARY,ISSECONDARY,ISPOST16,AGEL,AGEH,"
    "GENDER,SIXFGENDER,RELDENOM,ADMPOL,OTHERURN,NEWACFLAG,RE-BROKERED"
)
# the 2018-19 school information file, as its metadata file (dfe/meta) lists the columns
SCHOOL_INFORMATION = cols(
    "URN,LANAME,LA,ESTAB,LAESTAB,SCHNAME,STREET,LOCALITY,ADDRESS3,TOWN,POSTCODE,SCHSTATUS,OPENDATE,"
    "CLOSEDATE,MINORGROUP,SCHOOLTYPE,ISPRIMARY,ISSECONDARY,ISPOST16,AGELOW,AGEHIGH,GENDER,RELCHAR,ADMPOL"
)
EES_KS4 = cols(
    "time_period,time_identifier,geographic_level,country_code,country_name,school_laestab,school_urn,"
    "school_name,old_la_code,new_la_code,la_name,version,establishment_type_group,full_address,telnum,"
    "pcon_code,pcon_name,contflag,iclose,reldenom,admpol_pt,egender,feeder,agerange,t_allks_pupils,"
    "t_allks_boys,t_allks_girls,t_pupils,t_boys,pt_boys,t_girls,pt_girls,avg_ks2_scaledscore,t_prior_lo,"
    "pt_prior_lo,t_prior_av,pt_prior_av,t_prior_hi,pt_prior_hi,t_disadvantaged,pt_disadvantaged,"
    "t_not_disadvantaged,pt_not_disadvantaged,t_language_not_english,pt_language_not_english,"
    "t_language_english,pt_language_english,t_language_unknown,pt_language_unknown,t_not_mobile,"
    "pt_not_mobile,t_sen_with_ehcp,pt_sen_with_ehcp,t_sen,pt_sen,t_sen_no_ehcp,pt_sen_no_ehcp,"
    "diffn_att8,diffn_p8mea,p8_banding"
)
FINANCE = cols("URN,Income,Expenditure,Balance,Academic Year")
# performance-tables_2018-19_850_ks2final.csv
KS2_FULL = cols(
    "RECTYPE,ALPHAIND,LEA,ESTAB,URN,SCHNAME,ADDRESS1,ADDRESS2,ADDRESS3,TOWN,PCODE,TELNUM,"
    "PCON_CODE,PCON_NAME,URN_AC,SCHNAME_AC,OPEN_AC,NFTYPE,ICLOSE,RELDENOM,AGERANGE,CONFEXAM,"
    "TAB15,TAB1618,TOTPUPS,TPUPYEAR,TELIG,BELIG,GELIG,PBELIG,PGELIG,TKS1AVERAGE,TKS1GROUP_L,"
    "PTKS1GROUP_L,TKS1GROUP_M,PTKS1GROUP_M,TKS1GROUP_H,PTKS1GROUP_H,TKS1GROUP_NA,PTKS1GROUP_NA,"
    "TFSM6CLA1A,PTFSM6CLA1A,TNotFSM6CLA1A,PTNotFSM6CLA1A,TEALGRP2,PTEALGRP2,TMOBN,PTMOBN,"
    "PTRWM_EXP,PTRWM_HIGH,READPROG,READPROG_LOWER,READPROG_UPPER,READCOV,WRITPROG,WRITPROG_LOWER,"
    "WRITPROG_UPPER,WRITCOV,MATPROG,MATPROG_LOWER,MATPROG_UPPER,MATCOV,PTREAD_EXP,PTREAD_HIGH,"
    "PTREAD_AT,READ_AVERAGE,PTGPS_EXP,PTGPS_HIGH,PTGPS_AT,GPS_AVERAGE,PTMAT_EXP,PTMAT_HIGH,"
    "PTMAT_AT,MAT_AVERAGE,PTWRITTA_EXP,PTWRITTA_HIGH,PTWRITTA_WTS,PTWRITTA_AD,PTSCITA_EXP,"
    "PTSCITA_AD,PTRWM_EXP_B,PTRWM_EXP_G,PTRWM_EXP_L,PTRWM_EXP_M,PTRWM_EXP_H,PTRWM_EXP_FSM6CLA1A,"
    "PTRWM_EXP_NotFSM6CLA1A,DIFFN_RWM_EXP,PTRWM_EXP_EAL,PTRWM_EXP_MOBN,PTRWM_HIGH_B,PTRWM_HIGH_G,"
    "PTRWM_HIGH_L,PTRWM_HIGH_M,PTRWM_HIGH_H,PTRWM_HIGH_FSM6CLA1A,PTRWM_HIGH_NotFSM6CLA1A,"
    "DIFFN_RWM_HIGH,PTRWM_HIGH_EAL,PTRWM_HIGH_MOBN,READPROG_B,READPROG_B_LOWER,READPROG_B_UPPER,"
    "READPROG_G,READPROG_G_LOWER,READPROG_G_UPPER,READPROG_L,READPROG_L_LOWER,READPROG_L_UPPER,"
    "READPROG_M,READPROG_M_LOWER,READPROG_M_UPPER,READPROG_H,READPROG_H_LOWER,READPROG_H_UPPER,"
    "READPROG_FSM6CLA1A,READPROG_FSM6CLA1A_LOWER,READPROG_FSM6CLA1A_UPPER,READPROG_NotFSM6CLA1A,"
    "READPROG_NotFSM6CLA1A_LOWER,READPROG_NotFSM6CLA1A_UPPER,DIFFN_READPROG,READPROG_EAL,"
    "READPROG_EAL_LOWER,READPROG_EAL_UPPER,READPROG_MOBN,READPROG_MOBN_LOWER,READPROG_MOBN_UPPER,"
    "WRITPROG_B,WRITPROG_B_LOWER,WRITPROG_B_UPPER,WRITPROG_G,WRITPROG_G_LOWER,WRITPROG_G_UPPER,"
    "WRITPROG_L,WRITPROG_L_LOWER,WRITPROG_L_UPPER,WRITPROG_M,WRITPROG_M_LOWER,WRITPROG_M_UPPER,"
    "WRITPROG_H,WRITPROG_H_LOWER,WRITPROG_H_UPPER,WRITPROG_FSM6CLA1A,WRITPROG_FSM6CLA1A_LOWER,"
    "WRITPROG_FSM6CLA1A_UPPER,WRITPROG_NotFSM6CLA1A,WRITPROG_NotFSM6CLA1A_LOWER,"
    "WRITPROG_NotFSM6CLA1A_UPPER,DIFFN_WRITPROG,WRITPROG_EAL,WRITPROG_EAL_LOWER,"
    "WRITPROG_EAL_UPPER,WRITPROG_MOBN,WRITPROG_MOBN_LOWER,WRITPROG_MOBN_UPPER,MATPROG_B,"
    "MATPROG_B_LOWER,MATPROG_B_UPPER,MATPROG_G,MATPROG_G_LOWER,MATPROG_G_UPPER,MATPROG_L,"
    "MATPROG_L_LOWER,MATPROG_L_UPPER,MATPROG_M,MATPROG_M_LOWER,MATPROG_M_UPPER,MATPROG_H,"
    "MATPROG_H_LOWER,MATPROG_H_UPPER,MATPROG_FSM6CLA1A,MATPROG_FSM6CLA1A_LOWER,"
    "MATPROG_FSM6CLA1A_UPPER,MATPROG_NotFSM6CLA1A,MATPROG_NotFSM6CLA1A_LOWER,"
    "MATPROG_NotFSM6CLA1A_UPPER,DIFFN_MATPROG,MATPROG_EAL,MATPROG_EAL_LOWER,MATPROG_EAL_UPPER,"
    "MATPROG_MOBN,MATPROG_MOBN_LOWER,MATPROG_MOBN_UPPER,READ_AVERAGE_B,READ_AVERAGE_G,"
    "READ_AVERAGE_L,READ_AVERAGE_M,READ_AVERAGE_H,READ_AVERAGE_FSM6CLA1A,"
    "READ_AVERAGE_NotFSM6CLA1A,READ_AVERAGE_EAL,READ_AVERAGE_MOBN,MAT_AVERAGE_B,MAT_AVERAGE_G,"
    "MAT_AVERAGE_L,MAT_AVERAGE_M,MAT_AVERAGE_H,MAT_AVERAGE_FSM6CLA1A,MAT_AVERAGE_NotFSM6CLA1A,"
    "MAT_AVERAGE_EAL,MAT_AVERAGE_MOBN,GPS_AVERAGE_B,GPS_AVERAGE_G,GPS_AVERAGE_L,GPS_AVERAGE_M,"
    "GPS_AVERAGE_H,GPS_AVERAGE_FSM6CLA1A,GPS_AVERAGE_NotFSM6CLA1A,GPS_AVERAGE_EAL,"
    "GPS_AVERAGE_MOBN,PTREAD_EXP_L,PTREAD_EXP_M,PTREAD_EXP_H,PTREAD_EXP_FSM6CLA1A,"
    "PTREAD_EXP_NotFSM6CLA1A,PTGPS_EXP_L,PTGPS_EXP_M,PTGPS_EXP_H,PTGPS_EXP_FSM6CLA1A,"
    "PTGPS_EXP_NotFSM6CLA1A,PTMAT_EXP_L,PTMAT_EXP_M,PTMAT_EXP_H,PTMAT_EXP_FSM6CLA1A,"
    "PTMAT_EXP_NotFSM6CLA1A,PTWRITTA_EXP_L,PTWRITTA_EXP_M,PTWRITTA_EXP_H,PTWRITTA_EXP_FSM6CLA1A,"
    "PTWRITTA_EXP_NotFSM6CLA1A,PTREAD_HIGH_L,PTREAD_HIGH_M,PTREAD_HIGH_H,PTREAD_HIGH_FSM6CLA1A,"
    "PTREAD_HIGH_NotFSM6CLA1A,PTGPS_HIGH_L,PTGPS_HIGH_M,PTGPS_HIGH_H,PTGPS_HIGH_FSM6CLA1A,"
    "PTGPS_HIGH_NotFSM6CLA1A,PTMAT_HIGH_L,PTMAT_HIGH_M,PTMAT_HIGH_H,PTMAT_HIGH_FSM6CLA1A,"
    "PTMAT_HIGH_NotFSM6CLA1A,PTWRITTA_HIGH_L,PTWRITTA_HIGH_M,PTWRITTA_HIGH_H,"
    "PTWRITTA_HIGH_FSM6CLA1A,PTWRITTA_HIGH_NotFSM6CLA1A,TEALGRP1,PTEALGRP1,TEALGRP3,PTEALGRP3,"
    "TSENELE,PSENELE,TSENELK,PSENELK,TSENELEK,PSENELEK,TELIG_18,PTFSM6CLA1A_18,PTNOTFSM6CLA1A_18,"
    "PTRWM_EXP_18,PTRWM_HIGH_18,PTRWM_EXP_FSM6CLA1A_18,PTRWM_HIGH_FSM6CLA1A_18,"
    "PTRWM_EXP_NotFSM6CLA1A_18,PTRWM_HIGH_NotFSM6CLA1A_18,READPROG_18,READPROG_LOWER_18,"
    "READPROG_UPPER_18,WRITPROG_18,WRITPROG_LOWER_18,WRITPROG_UPPER_18,MATPROG_18,"
    "MATPROG_LOWER_18,MATPROG_UPPER_18,READ_AVERAGE_18,MAT_AVERAGE_18,TELIG_17,PTFSM6CLA1A_17,"
    "PTNOTFSM6CLA1A_17,PTRWM_EXP_17,PTRWM_HIGH_17,PTRWM_EXP_FSM6CLA1A_17,PTRWM_HIGH_FSM6CLA1A_17,"
    "PTRWM_EXP_NotFSM6CLA1A_17,PTRWM_HIGH_NotFSM6CLA1A_17,READPROG_17,READPROG_LOWER_17,"
    "READPROG_UPPER_17,WRITPROG_17,WRITPROG_LOWER_17,WRITPROG_UPPER_17,MATPROG_17,"
    "MATPROG_LOWER_17,MATPROG_UPPER_17,READ_AVERAGE_17,MAT_AVERAGE_17,TELIG_3YR,PTRWM_EXP_3YR,"
    "PTRWM_HIGH_3YR,READ_AVERAGE_3YR,MAT_AVERAGE_3YR,READPROG_UNADJUSTED,WRITPROG_UNADJUSTED,"
    "MATPROG_UNADJUSTED,READPROG_DESCR_17,WRITPROG_DESCR_17,MATPROG_DESCR_17,READPROG_DESCR_18,"
    "WRITPROG_DESCR_18,MATPROG_DESCR_18,READPROG_DESCR,WRITPROG_DESCR,MATPROG_DESCR"
)
# performance-tables_labelled-2019_815_cfr.csv
CFR = cols(
    "LA,URN,LONDON/NON-LONDON,MEDIAN,PUPILS,FSM,FSMBAND,GRANTFUNDING,SELFGENERATEDINCOME,"
    "TOTALINCOME,TEACHINGSTAFF,SUPPLYTEACHERS,EDUCATIONSUPPORTSTAFF,PREMISES,BACKOFFICE,CATERING,"
    "OTHERSTAFF,ENERGY,LEARNINGRESOURCES,ICT,BOUGHTINPROFESSIONALSERVICES,OTHER,TOTALEXPENDITURE,"
    "T1415CAT1,T1415CAT2,T1415CAT3,T1415CAT4,T1415CAT5,T1415CAT1LA,T1415CAT2LA,T1415CAT3LA,"
    "T1415CAT4LA,T1415CAT5LA,T1516CAT1,T1516CAT2,T1516CAT3,T1516CAT4,T1516CAT5,T1516CAT1LA,"
    "T1516CAT2LA,T1516CAT3LA,T1516CAT4LA,T1516CAT5LA,T1617CAT1,T1617CAT2,T1617CAT3,T1617CAT4,"
    "T1617CAT5,T1617CAT1LA,T1617CAT2LA,T1617CAT3LA,T1617CAT4LA,T1617CAT5LA,T1718CAT1,T1718CAT2,"
    "T1718CAT3,T1718CAT4,T1718CAT5,T1718CAT1LA,T1718CAT2LA,T1718CAT3LA,T1718CAT4LA,T1718CAT5LA,"
    "T1819CAT1,T1819CAT2,T1819CAT3,T1819CAT4,T1819CAT5,T1819CAT1LA,T1819CAT2LA,T1819CAT3LA,"
    "T1819CAT4LA,T1819CAT5LA,DCAT1,DCAT2,DCAT3,DCAT4,DCAT5,PGRANTFUNDING,PSELFGENERATEDINCOME,"
    "PTEACHINGSTAFF,PSUPPLYTEACHERS,PEDUCATIONSUPPORTSTAFF,PPREMISES,PBACKOFFICE,PCATERING,"
    "POTHERSTAFF,PENERGY,PLEARNINGRESOURCES,PICT,PBOUGHTINPROFESSIONALSERVICES,POTHER,PT1415CAT1,"
    "PT1415CAT2,PT1415CAT3,PT1415CAT4,PT1415CAT5,PT1415CAT1LA,PT1415CAT2LA,PT1415CAT3LA,"
    "PT1415CAT4LA,PT1415CAT5LA,PT1516CAT1,PT1516CAT2,PT1516CAT3,PT1516CAT4,PT1516CAT5,"
    "PT1516CAT1LA,PT1516CAT2LA,PT1516CAT3LA,PT1516CAT4LA,PT1516CAT5LA,PT1617CAT1,PT1617CAT2,"
    "PT1617CAT3,PT1617CAT4,PT1617CAT5,PT1617CAT1LA,PT1617CAT2LA,PT1617CAT3LA,PT1617CAT4LA,"
    "PT1617CAT5LA,PT1718CAT1,PT1718CAT2,PT1718CAT3,PT1718CAT4,PT1718CAT5,PT1718CAT1LA,"
    "PT1718CAT2LA,PT1718CAT3LA,PT1718CAT4LA,PT1718CAT5LA,PT1819CAT1,PT1819CAT2,PT1819CAT3,"
    "PT1819CAT4,PT1819CAT5,PT1819CAT1LA,PT1819CAT2LA,PT1819CAT3LA,PT1819CAT4LA,PT1819CAT5LA,"
    "PDCAT1,PDCAT2,PDCAT3,PDCAT4,PDCAT5"
)
# performance-tables_labelled-2016_england_ks5final.csv
KS5 = cols(
    "RECTYPE,ALPHAIND,REGION,LASORT,LEA,ESTAB,URN,SCHNAME_AC,SCHNAME,ADDRESS1,ADDRESS2,ADDRESS3,"
    "TOWN,PCODE,TELNUM,CONTFLAG,NFTYPE/FESITYPE,RELDENOM,ADMPOL,GEND1618,FEEDER,AGERANGE,ICLOSE,"
    "TABKS2,TAB15,EXAMCONF,DUMMY,TPUP1618,TALLPUP_1618,TALLPUP_ALEV_1618,TALLPPE_ALEV_1618,"
    "TALLPPEGRD_ALEV_1618,TALLPUP_ACAD_1618,TALLPPE_ACAD_1618,TALLPPEGRD_ACAD_1618,TALLPUP_TLEV,"
    "TALLPPE_TLEV,TALLPPEGRD_TLEV,TALLPUP_AGEN,TALLPPE_AGEN,TALLPPEGRD_AGEN,TINCLUDE_B3,TB3PTSE,"
    "TB3PTSE_GRD,TINCLUDE_AAB_2FAC,PTAAB_2FAC,TTECH_BACC,T_InScope_ACAD_Ret,T_InScope_TLEV_Ret,"
    "T_InScope_AGEN_Ret,T_InScope_ALEV_Ret,PT_Retained_ACAD_Ret,PT_Retained_TLEV_Ret,"
    "PT_Retained_AGEN_Ret,PT_Retained_ALEV_Ret,T_AIMS_CA,CA_SCORE,T_SCOPEEX_E,PROGEX_E,"
    "T_SCOPEEX_M,PROGEX_M,ENTRIES_ALEV,VA_INS_ALEV,UCI_INS_ALEV,LCI_INS_ALEV,ENTRIES_ACAD,"
    "VA_INS_ACAD,UCI_INS_ACAD,LCI_INS_ACAD,ENTRIES_AGEN,VA_INS_AGEN,UCI_INS_AGEN,LCI_INS_AGEN"
)


def q(wh: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(wh), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def build(tmp: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        write(tmp / "raw" / name, text)
    wh = tmp / "wh.duckdb"
    build_warehouse(tmp / "raw", wh)
    return wh


def measures_of(wh: Path, urn: int) -> dict[str, tuple[float | None, str | None, str | None]]:
    rows = q(wh, f"SELECT measure, value, value_text, suppression FROM core.context WHERE urn = {urn}")
    return {m: (v, t, s) for m, v, t, s in rows}


# (file name, header, rows, layout, urn to check, expected measures of that URN, academic year)
CASES = [
    ("performance-tables_2018-19_england_census.csv", CENSUS_2019, [
        {"URN": "100000", "LA": "201", "ESTAB": "3614", "SCHOOLTYPE": "State-funded primary", "NOR": "285",
         "TSENELSE": "5", "PSENELSE": "1.8", "TSENELK": "50", "PSENELK": "17.5", "NUMEAL": "141", "PNUMEAL": "49.5",
         "NUMFSM": "32", "NUMFSMEVER": "38", "PNUMFSMEVER": "16.2"},
        {"URN": "NAT", "ESTAB": "PRI", "SCHOOLTYPE": "State-funded primary", "NOR": "4727089"},
     ], "dfe_census", 100000, {
        "pupils": (285.0, None, None), "fsm_pupils": (32.0, None, None), "fsm6_pct": (16.2, None, None),
        "eal_pct": (49.5, None, None), "sen_support_pct": (17.5, None, None), "sen_ehcp_pct": (1.8, None, None),
        "census_school_type": (None, "State-funded primary", None),
     }, "2018/19"),
    ("census_labelled-2017.csv", CENSUS_LABELLED, [
        {"URN": "121293", "LA": "815", "ESTAB": "2040", "NOR": "16", "PNUMFSM": "6.3", "NUMFSMEVER": "NP", "PNUMFSMEVER": "NP",
         "PNUMEAL": "0", "PSENELK": "18.8"},
     ], "dfe_census", 121293, {
        "pupils": (16.0, None, None), "fsm_pct": (6.3, None, None), "fsm6_pct": (None, None, "not published"),
        "fsm6_pupils": (None, None, "not published"), "eal_pct": (0.0, None, None), "sen_support_pct": (18.8, None, None),
     }, None),
    ("performance-tables_2018-19_england_abs.csv", ABSENCE, [
        {"LA": "201", "ESTAB": "3614", "URN": "100000", "PERCTOT": "2.6", "PPERSABS10": "SUPP"},
        {"LA": "NAT", "ESTAB": "PRI", "PERCTOT": "4", "PPERSABS10": "8.2"},
     ], "dfe_absence", 100000, {
        "absence_overall_pct": (2.6, None, None), "persistent_absence_pct": (None, None, "suppressed"),
     }, "2018/19"),
    ("performance-tables_2018-19_850_ks2final.csv", KS2_FULL, [
        {"RECTYPE": "1", "LEA": "850", "ESTAB": "2000", "URN": "115893", "SCHNAME": "Test Junior School", "TELIG": "59",
         "PTFSM6CLA1A": "13%", "PTRWM_EXP": "78%", "READPROG": "-0.9", "READPROG_LOWER": "-1.8", "READPROG_UPPER": "0.1",
         "READPROG_DESCR": "3", "WRITPROG": "SUPP", "WRITPROG_DESCR": "SUPP", "MATPROG": "1.6", "MATPROG_LOWER": "0.6",
         "MATPROG_UPPER": "2.6", "MATPROG_DESCR": "2"},
        {"RECTYPE": "4", "TELIG": "650000", "READPROG": "0"},
     ], "dfe_ks2_final", 115893, {
        "ks2_pupils": (59.0, None, None), "ks2_disadvantaged_pct": (13.0, None, None), "ks2_rwm_expected_pct": (78.0, None, None),
        "ks2_reading_progress": (-0.9, None, None), "ks2_reading_progress_low": (-1.8, None, None),
        "ks2_reading_progress_high": (0.1, None, None), "ks2_reading_progress_band": (3.0, "Average", None),
        "ks2_writing_progress": (None, None, "suppressed"), "ks2_writing_progress_band": (None, None, "suppressed"),
        "ks2_maths_progress": (1.6, None, None), "ks2_maths_progress_low": (0.6, None, None),
        "ks2_maths_progress_high": (2.6, None, None), "ks2_maths_progress_band": (2.0, "Above average", None),
     }, "2018/19"),
    ("performance-tables_2018-19_england_ks2final_subset.csv", KS2_SUBSET, [
        {"RECTYPE": "1", "URN": "141279", "SCHNAME": "Test Primary School", "PCODE": "LE16 8RH", "PCODE2": "LE16",
         "READPROG": "2.6", "READPROG_DESCR": "2", "WRITPROG": "3.8", "WRITPROG_DESCR": "1", "MATPROG": "LOWCOV",
         "MATPROG_DESCR": "LOWCOV", "OFSTEDRATING": "Good", "COLOUR1": "dimgrey"},
     ], "dfe_ks2_subset", 141279, {
        "ks2_reading_progress": (2.6, None, None), "ks2_reading_progress_band": (2.0, "Above average", None),
        "ks2_writing_progress": (3.8, None, None), "ks2_writing_progress_band": (1.0, "Well above average", None),
        "ks2_maths_progress": (None, None, "low coverage"), "ks2_maths_progress_band": (None, None, "low coverage"),
     }, "2018/19"),
    ("performance-tables_2018-19_england_ks4provisional_headline.csv", KS4_HEADLINE, [
        {"RECTYPE": "1", "LEA": "815", "ESTAB": "4232", "URN": "144929", "SCHNAME": "Test High School", "TPUP": "99",
         "ATT8SCR": "45.9", "P8PUP": "99", "P8MEA": "0.25", "P8CILOW": "0.00", "P8CIUPP": "0.49", "PTL2BASICS_94": "60%",
         "PTL2BASICS_95": "37%", "EBACCAPS": "3.78", "PTEBACC_E_PTQ_EE": "29%", "P8_BANDING": "3"},
        {"RECTYPE": "1", "URN": "100003", "SCHNAME": "Test Independent School", "NFTYPE": "IND", "TPUP": "NA",
         "P8MEA": "NA", "ATT8SCR": "NE"},
        {"RECTYPE": "4", "LEA": "815", "TPUP": "6135", "ATT8SCR": "48.6"},
     ], "dfe_ks4_final", 144929, {
        "ks4_pupils": (99.0, None, None), "attainment8": (45.9, None, None), "progress8_pupils": (99.0, None, None),
        "progress8": (0.25, None, None), "progress8_low": (0.0, None, None), "progress8_high": (0.49, None, None),
        "ks4_basics_94_pct": (60.0, None, None), "ks4_basics_95_pct": (37.0, None, None), "ks4_ebacc_aps": (3.78, None, None),
        "ks4_ebacc_entry_pct": (29.0, None, None), "progress8_band": (3.0, "Average", None),
     }, "2018/19"),
    ("ks4_labelled-2017.csv", KS4_2017, [
        {"RECTYPE": "1", "LEA": "815", "ESTAB": "4000", "SCHNAME": "Test School", "URN": "121000", "TPUP": "120",
         "ATT8SCR": "50.1", "P8MEA": "-0.12", "P8CILOW": "-0.35", "P8CIUPP": "0.11"},
     ], "dfe_ks4_final", 121000, {
        "ks4_pupils": (120.0, None, None), "attainment8": (50.1, None, None), "progress8": (-0.12, None, None),
        "progress8_low": (-0.35, None, None), "progress8_high": (0.11, None, None),
     }, None),
    ("performance-tables_2018-19_england_ks4final_subset.csv", KS4_SUBSET, [
        {"RECTYPE": "1", "URN": "100001", "SCHNAME": "Test Girls School", "PCODE": "EC2Y 8BB", "P8MEA": "NP",
         "ATT8SCR": "57.9", "PTL2BASICS_95": "0%", "EBACCAPS": "3.17", "OFSTEDRATING": "", "GRAMMAR": "No"},
     ], "dfe_ks4_subset", 100001, {
        "progress8": (None, None, "not published"), "attainment8": (57.9, None, None), "ks4_basics_95_pct": (0.0, None, None),
        "ks4_ebacc_aps": (3.17, None, None),
     }, "2018/19"),
    ("performance-tables_labelled-2016_england_ks5final.csv", KS5, [
        {"RECTYPE": "1", "URN": "100050", "SCHNAME": "Test Sixth Form", "TPUP1618": "NEW", "TALLPPE_ALEV_1618": "31.79",
         "TALLPPEGRD_ALEV_1618": "C+", "PTAAB_2FAC": "17.0%", "VA_INS_ALEV": "0.05", "UCI_INS_ALEV": "0.2",
         "LCI_INS_ALEV": "-0.1"},
        {"RECTYPE": "5", "TALLPPE_ALEV_1618": "31.79"},
     ], "dfe_ks5_final", 100050, {
        "ks5_pupils": (None, None, "new school"), "ks5_alevel_aps": (31.79, None, None), "ks5_alevel_grade": (None, "C+", None),
        "ks5_aab_pct": (17.0, None, None), "ks5_alevel_value_added": (0.05, None, None),
        "ks5_alevel_value_added_low": (-0.1, None, None), "ks5_alevel_value_added_high": (0.2, None, None),
     }, None),
    ("performance-tables_815_spine.csv", SPINE, [
        {"URN": "121293", "LA": "815", "ESTAB": "2040", "LAESTAB": "8152040", "SCHNAME": "Test Community Primary School",
         "MINORGROUP": "Maintained School", "NFTYPE": "Community school", "ISPRIMARY": "1", "ISSECONDARY": "0",
         "ISPOST16": "0", "AGEL": "4", "AGEH": "11", "ADMPOL": "Not recorded", "GENDER": "Mixed"},
     ], "dfe_spine", 121293, {
        "minor_group": (None, "Maintained School", None), "school_type": (None, "Community school", None),
        "provides_primary": (1.0, None, None), "provides_secondary": (0.0, None, None), "provides_post16": (0.0, None, None),
        "age_low_years": (4.0, None, None), "age_high_years": (11.0, None, None), "admissions_policy": (None, "Not recorded", None),
     }, None),
    ("performance-tables_2018-19_school_information.csv", SCHOOL_INFORMATION, [
        {"URN": "100000", "LANAME": "City of London", "LA": "201", "ESTAB": "3614", "SCHNAME": "Test CofE Primary School",
         "SCHSTATUS": "Open", "MINORGROUP": "Maintained school", "SCHOOLTYPE": "Voluntary aided school", "ISPRIMARY": "1",
         "ISSECONDARY": "0", "ISPOST16": "0", "AGELOW": "3", "AGEHIGH": "11", "ADMPOL": "Non-selective"},
     ], "dfe_spine", 100000, {
        "minor_group": (None, "Maintained school", None), "school_type": (None, "Voluntary aided school", None),
        "provides_primary": (1.0, None, None), "provides_secondary": (0.0, None, None), "provides_post16": (0.0, None, None),
        "age_low_years": (3.0, None, None), "age_high_years": (11.0, None, None), "admissions_policy": (None, "Non-selective", None),
     }, "2018/19"),
    ("performance-tables_labelled-2019_815_cfr.csv", CFR, [
        {"LA": "815", "URN": "121300", "LONDON/NON-LONDON": "Non-London", "MEDIAN": "Primary", "PUPILS": "41", "FSM": "9.3",
         "FSMBAND": "Low", "GRANTFUNDING": "7,579", "SELFGENERATEDINCOME": "174", "TOTALINCOME": "7,753",
         "TEACHINGSTAFF": "4,028", "EDUCATIONSUPPORTSTAFF": "SUPP", "TOTALEXPENDITURE": "7,891", "PGRANTFUNDING": "98%"},
        {"LA": "NON-LONDON-SPE", "LONDON/NON-LONDON": "Non-London", "MEDIAN": "Special", "FSMBAND": "High",
         "GRANTFUNDING": "22,611", "TOTALINCOME": "23,440"},
        {"LA": "LA-PRI", "URN": "North Yorkshire", "MEDIAN": "Primary", "TOTALINCOME": "5,100"},
     ], "dfe_cfr", 121300, {
        "pupils_fte": (41.0, None, None), "fsm_pct": (9.3, None, None), "grant_funding_per_pupil_gbp": (7579.0, None, None),
        "self_generated_income_per_pupil_gbp": (174.0, None, None), "income_per_pupil_gbp": (7753.0, None, None),
        "teaching_staff_per_pupil_gbp": (4028.0, None, None), "education_support_staff_per_pupil_gbp": (None, None, "suppressed"),
        "expenditure_per_pupil_gbp": (7891.0, None, None),
     }, None),
    ("ees_ks4_2023-24_school-information.csv", EES_KS4, [
        {"time_period": "202324", "time_identifier": "Academic year", "geographic_level": "School", "country_code": "E92000001",
         "country_name": "England", "school_laestab": "2014001", "school_urn": "100049", "school_name": "Test Academy",
         "version": "Final", "t_allks_pupils": "1200", "t_pupils": "156", "avg_ks2_scaledscore": "104.3",
         "pt_disadvantaged": "33.3", "pt_language_not_english": "c", "pt_sen_with_ehcp": "z", "pt_sen_no_ehcp": "x",
         "diffn_att8": "-7.4", "diffn_p8mea": "-0.45", "p8_banding": "Well above average"},
     ], "dfe_ees_ks4", 100049, {
        "pupils": (1200.0, None, None), "ks4_pupils": (156.0, None, None), "ks4_prior_ks2_scaled_score": (104.3, None, None),
        "ks4_disadvantaged_pct": (33.3, None, None), "ks4_eal_pct": (None, None, "confidential"),
        "ks4_sen_ehcp_pct": (None, None, "not applicable"), "ks4_sen_support_pct": (None, None, "not available"),
        "attainment8_disadvantaged_gap": (-7.4, None, None), "progress8_disadvantaged_gap": (-0.45, None, None),
        "progress8_band": (1.0, "Well above average", None),
     }, "2023/24"),
    ("maintained-finance_2018_income-expenditure.csv", FINANCE, [
        {"URN": "100000", "Income": "2254486.7", "Expenditure": "2274147.52", "Balance": "-19660.82", "Academic Year": "2018"},
     ], "finance_interchange", 100000, {
        "income_gbp": (2254486.7, None, None), "expenditure_gbp": (2274147.52, None, None), "balance_gbp": (-19660.82, None, None),
     }, "2017/18"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[3] + ":" + c[0] for c in CASES])
def test_layout_is_recognised_and_read(tmp_path: Path, case: tuple) -> None:
    name, header, rows, layout, urn, expected, year = case
    wh = build(tmp_path, {name: csv_text(header, rows)})
    assert q(wh, "SELECT layout, status FROM meta.files") == [(layout, "loaded")]
    got = measures_of(wh, urn)
    for measure, (value, text, reason) in expected.items():
        v, t, s = got[measure]
        assert (v if v is None else round(v, 6), t, s) == (value, text, reason), measure
    # totals rows (RECTYPE 4/5, NAT, LA-PRI, NON-LONDON-SPE ...) never reach the table
    schools = {int(r.get("URN") or r["school_urn"]) for r in rows if (r.get("URN") or r.get("school_urn", "")).isdigit()}
    assert {u for (u,) in q(wh, "SELECT DISTINCT urn FROM core.context")} == schools
    assert q(wh, "SELECT DISTINCT academic_year FROM core.context") == [(year,)]
    assert q(wh, "SELECT DISTINCT layout FROM core.context") == [(layout,)]


def test_every_dfe_layout_has_a_case() -> None:
    from evenhand import maps

    ours = {n for n, lay in maps.layouts().items() if lay.builder == "dfe_context"}
    assert ours == {c[3] for c in CASES}


def test_spine_xlsx_is_recognised(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "england"
    ws.append(SPINE)
    row = dict.fromkeys(SPINE, None)
    row.update({"URN": 100000, "LA": 201, "ESTAB": 3614, "LAESTAB": 2013614, "SCHNAME": "Test Primary School",
                "NFTYPE": "Voluntary aided school", "ISPRIMARY": 1, "ISSECONDARY": 0, "ISPOST16": 0, "AGEL": 3, "AGEH": 11})
    ws.append(list(row.values()))
    raw = tmp_path / "raw"
    raw.mkdir()
    wb.save(raw / "performance-tables_2017-18_england_spine.xlsx")
    wh = tmp_path / "wh.duckdb"
    build_warehouse(raw, wh)
    assert q(wh, "SELECT layout, sheet, status FROM meta.files") == [("dfe_spine", "england", "loaded")]
    got = measures_of(wh, 100000)
    assert got["age_high_years"] == (11.0, None, None)
    assert got["school_type"] == (None, "Voluntary aided school", None)
    assert q(wh, "SELECT DISTINCT academic_year, year_source FROM core.context") == [("2017/18", "file name")]


def test_foreign_columns_are_a_warning_not_an_error(tmp_path: Path) -> None:
    rows = [{"RECTYPE": "1", "URN": "141279", "READPROG": "2.6", "READPROG_DESCR": "2", "WRITPROG": "1", "WRITPROG_DESCR": "3",
             "MATPROG": "0", "MATPROG_DESCR": "3", "OFSTEDRATING": "Good", "LATITUDE": "52.5", "COLOUR1": "dimgrey"}]
    wh = build(tmp_path, {"ks2_subset_2018-19.csv": csv_text(KS2_SUBSET, rows)})
    [(unmapped,)] = q(wh, "SELECT unmapped_columns FROM meta.files")
    assert {"OFSTEDRATING", "COLOUR1", "LATITUDE", "PCODE2"} <= set(unmapped)
    [(message,)] = q(wh, "SELECT message FROM meta.warnings WHERE message LIKE '%no map knows%'")
    assert "OFSTEDRATING" in message and "COLOUR1" in message


def test_full_ks2_layout_wins_over_the_subset_it_contains(tmp_path: Path) -> None:
    """A full file carries every subset column: it is read as the full layout (listed first)."""
    rows = [{"RECTYPE": "1", "URN": "115893", "PCODE": "SO1 1AA", "READPROG": "1", "READPROG_LOWER": "0",
             "READPROG_UPPER": "2", "READPROG_DESCR": "3", "MATPROG": "1", "MATPROG_DESCR": "3"}]
    wh = build(tmp_path, {"ks2.csv": csv_text(KS2_FULL, rows)})
    assert q(wh, "SELECT layout FROM meta.files") == [("dfe_ks2_final",)]


def test_short_totals_rows_at_the_end_without_a_line_end(tmp_path: Path) -> None:
    """DfE files end with totals rows that leave out trailing empty fields, the last one with
    no line end: that is their shape, not a truncated download."""
    header = KS4_HEADLINE
    text = csv_text(header, [{"RECTYPE": "1", "URN": "144929", "P8MEA": "0.25", "P8CILOW": "0", "P8CIUPP": "0.5", "ATT8SCR": "45.9"}])
    totals = ["5,,,,,,,605874,44.5,,,,,,,,,59.5%,39.8%,3.86,36.5%,22.8%,15.7%,55.4%",
              "7,,,,,,,542831,46.5,513055,4888,-0.03,,,-0.03,,,64.4%,43.0%,4.06,40.0%,24.8%,17.0%,60.0%"]
    wh = build(tmp_path, {"ks4_labelled-2019.csv": text + "\r\n".join(totals)})
    assert q(wh, "SELECT layout, status, rows_read FROM meta.files") == [("dfe_ks4_final", "loaded", 3)]
    assert q(wh, "SELECT DISTINCT urn FROM core.context") == [(144929,)]
